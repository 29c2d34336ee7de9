package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/hostemu"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// ThroughputConfig describes a throughput run.
type ThroughputConfig struct {
	AppRoot          string // host.json, function folders and the handler
	ConnectionString string // Azurite, shared by every host
	Users            int
	RatePerSecond    int           // simulator rate limit
	Latency          time.Duration // simulator latency per request
	PageSize         int
	Hosts            int
	Output           io.Writer // handler and host output; nil discards
	// ThrottleWrites, when set, answers every write 429 with ThrottleRetryAfter for that long
	// from the first message on (a sustained throttle; tenantsim.ThrottleWritesFor).
	ThrottleWrites, ThrottleRetryAfter time.Duration
	// RecoverEvery fires the recovery timer (functions.RecoverTimer) on the first host this
	// often, as the host's schedule does; default 1 minute.
	RecoverEvery time.Duration
}

// ThroughputResult is what a throughput run measured and checked.
type ThroughputResult struct {
	Users    int
	Elapsed  time.Duration // first message enqueued to every queue drained
	Requests Counts
	// Bound is the time the rate limit alone imposes: the requests that were served
	// (429s left out), less the bucket's initial burst of one second's worth, over the rate.
	Bound time.Duration
	// Checks: every run final and succeeded, one run per user, one password reset per user,
	// and no write applied twice.
	Statuses        map[runs.Status]int
	RunsPerUser     map[int]int // number of runs -> users with that many
	ResetsPerUser   map[int]int // number of password resets -> users
	DuplicateWrites []string
	Attempts        int // step deliveries that acted, summed
	Steps           int
	Deferrals       int // throttled steps sent again after Retry-After, summed
	RecoveryFirings int // recovery timer invocations during the run
}

// ThrottledPerUser is the number of 429 answers per user remediated.
func (r ThroughputResult) ThrottledPerUser() float64 {
	if r.Users == 0 {
		return 0
	}
	return float64(r.Requests.Throttled) / float64(r.Users)
}

// OK reports whether no run was lost or duplicated and every change applied once.
func (r ThroughputResult) OK() bool {
	return r.Statuses[runs.Succeeded] == r.Users && r.RunsPerUser[1] == r.Users && r.ResetsPerUser[1] == r.Users && len(r.DuplicateWrites) == 0
}

// Throughput drops one `remediations` message per seeded victim and lets cfg.Hosts handler
// processes (each under its own host emulator, all on one Azurite) work them off against
// a simulator that throttles beyond cfg.RatePerSecond.
func Throughput(ctx context.Context, cfg ThroughputConfig) (ThroughputResult, error) {
	res := ThroughputResult{Users: cfg.Users}
	sim := tenantsim.New(tenantsim.Options{Latency: cfg.Latency, PageSize: cfg.PageSize})
	if _, err := sim.Start(); err != nil {
		return res, fmt.Errorf("bench: simulator: %w", err)
	}
	defer sim.Close()
	victims := SeedVictims(sim, cfg.Users)

	prefix := fmt.Sprintf("Tp%d", time.Now().UnixNano()%1e9)
	env := HandlerEnv(sim, cfg.ConnectionString, prefix, fmt.Sprintf("MAX_REMEDIATIONS_PER_HOUR=%d", 2*cfg.Users))
	var hosts []*hostemu.Host
	defer func() {
		for _, h := range hosts {
			_ = h.Stop()
		}
	}()
	for i := 0; i < cfg.Hosts; i++ {
		h, err := hostemu.Start(ctx, hostemu.Options{AppRoot: cfg.AppRoot, StorageConnectionString: cfg.ConnectionString, Env: env, Output: cfg.Output})
		if err != nil {
			return res, fmt.Errorf("bench: host %d: %w", i, err)
		}
		hosts = append(hosts, h)
	}
	queue, err := azqueue.NewQueueClientFromConnectionString(cfg.ConnectionString, functions.RemediationsQueue, nil)
	if err != nil {
		return res, fmt.Errorf("bench: queue client: %w", err)
	}
	sim.SetRateLimit(cfg.RatePerSecond)
	sim.ResetRequests()
	if cfg.ThrottleWrites > 0 {
		sim.ThrottleWritesFor(cfg.ThrottleWrites, cfg.ThrottleRetryAfter)
	}

	// The recovery timer runs as the host would run it: runs whose step lease ran out (a
	// delivery that died, a last delivery that could not reach the store) move again.
	recoverEvery := cfg.RecoverEvery
	if recoverEvery <= 0 {
		recoverEvery = time.Minute
	}
	recoverCtx, stopRecovery := context.WithCancel(ctx)
	defer stopRecovery()
	var firings atomic.Int64
	go func() {
		for {
			select {
			case <-recoverCtx.Done():
				return
			case <-time.After(recoverEvery):
			}
			if _, err := hosts[0].FireTimer(recoverCtx, functions.RecoverTimer); err == nil {
				firings.Add(1)
			}
		}
	}()

	start := time.Now()
	for _, v := range victims {
		msg, _ := json.Marshal(map[string]string{"user": v.UPN, "reason": "benchmark"})
		if _, err := queue.EnqueueMessage(ctx, string(msg), nil); err != nil {
			return res, fmt.Errorf("bench: enqueue: %w", err)
		}
	}
	// Drained when every host sees empty queues and nothing in flight, twice in a row, and
	// no run is left unfinished; a run left running waits for the recovery timer (its step
	// lease must run out first), for at most recoveryWait.
	const recoveryWait = 6 * time.Minute
	store, err := benchStore(cfg.ConnectionString, prefix)
	if err != nil {
		return res, err
	}
	var drainedAt time.Time
	for {
		for idle := 0; idle < 2; {
			idle++
			for _, h := range hosts {
				wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
				err := h.WaitIdle(wctx)
				cancel()
				if err != nil {
					return res, fmt.Errorf("bench: waiting for the queues: %w", err)
				}
			}
		}
		if drainedAt.IsZero() {
			drainedAt = time.Now()
		}
		left, err := store.Unfinished(ctx, time.Now(), 1)
		if err != nil {
			return res, fmt.Errorf("bench: unfinished runs: %w", err)
		}
		if len(left) == 0 || time.Since(drainedAt) > recoveryWait {
			break
		}
		if !sleepCtx(ctx, 5*time.Second) {
			return res, ctx.Err()
		}
	}
	res.Elapsed = time.Since(start)
	stopRecovery()
	res.RecoveryFirings = int(firings.Load())

	log := sim.Requests()
	res.Requests = Count(log)
	served := res.Requests.Graph + res.Requests.Exchange - res.Requests.Throttled
	res.Bound = time.Duration(float64(max(served-cfg.RatePerSecond, 0)) / float64(cfg.RatePerSecond) * float64(time.Second))
	res.DuplicateWrites = Duplicates(AppliedWrites(log))
	return res, verifyRuns(ctx, cfg.ConnectionString, prefix, sim, victims, &res)
}

func benchStore(connectionString, prefix string) (*runs.Store, error) {
	svc, err := aztables.NewServiceClientFromConnectionString(connectionString, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: table client: %w", err)
	}
	return runs.New(svc, prefix), nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// verifyRuns reads every victim's runs from the run-record tables and the simulator.
func verifyRuns(ctx context.Context, connectionString, prefix string, sim *tenantsim.Sim, victims []Victim, res *ThroughputResult) error {
	svc, err := aztables.NewServiceClientFromConnectionString(connectionString, nil)
	if err != nil {
		return fmt.Errorf("bench: table client: %w", err)
	}
	store := runs.New(svc, prefix)
	res.Statuses, res.RunsPerUser, res.ResetsPerUser = map[runs.Status]int{}, map[int]int{}, map[int]int{}
	for _, v := range victims {
		list, err := store.ListByUser(ctx, v.ID, 10)
		if err != nil {
			return fmt.Errorf("bench: runs of %s: %w", v.UPN, err)
		}
		res.RunsPerUser[len(list)]++
		for _, r := range list {
			res.Statuses[r.Status]++
			for _, st := range r.Steps {
				res.Attempts += st.Attempts
				res.Deferrals += st.Deferrals
				res.Steps++
			}
		}
		res.ResetsPerUser[len(sim.PasswordResets(v.ID))]++
	}
	return nil
}
