package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	start := time.Now()
	for _, v := range victims {
		msg, _ := json.Marshal(map[string]string{"user": v.UPN, "reason": "benchmark"})
		if _, err := queue.EnqueueMessage(ctx, string(msg), nil); err != nil {
			return res, fmt.Errorf("bench: enqueue: %w", err)
		}
	}
	// Drained when every host sees empty queues and nothing in flight, twice in a row.
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
	res.Elapsed = time.Since(start)

	log := sim.Requests()
	res.Requests = Count(log)
	served := res.Requests.Graph + res.Requests.Exchange - res.Requests.Throttled
	res.Bound = time.Duration(float64(max(served-cfg.RatePerSecond, 0)) / float64(cfg.RatePerSecond) * float64(time.Second))
	res.DuplicateWrites = Duplicates(AppliedWrites(log))
	return res, verifyRuns(ctx, cfg.ConnectionString, prefix, sim, victims, &res)
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
				res.Steps++
			}
		}
		res.ResetsPerUser[len(sim.PasswordResets(v.ID))]++
	}
	return nil
}
