package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/bench"
	"github.com/tourniquet/tourniquet/internal/hostemu"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func checkAppRoot(appRoot string) error {
	for _, f := range []string{"handler", "host.json", "queue-remediations/function.json"} {
		if _, err := os.Stat(filepath.Join(appRoot, f)); err != nil {
			return fmt.Errorf("%s is not a built app root (run make build first): %w", appRoot, err)
		}
	}
	return nil
}

// handlerLog sends the handlers' JSON log lines to $TOURNIQUET_BENCH_LOG plus suffix, when
// that is set, to look into a missed check. The returned function closes the file.
func handlerLog(cfg *bench.ThroughputConfig, suffix string) (func(), error) {
	path := os.Getenv("TOURNIQUET_BENCH_LOG")
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path + suffix)
	if err != nil {
		return nil, err
	}
	cfg.Output = &lockedWriter{w: f}
	return func() { f.Close() }, nil
}

// benchThroughput remediates env.users users through the queues with env.hosts handler
// processes against a throttling simulator.
func benchThroughput(ctx context.Context, env *benchEnv, t *table) error {
	if err := checkAppRoot(env.appRoot); err != nil {
		return err
	}
	cfg := bench.ThroughputConfig{
		AppRoot: env.appRoot, ConnectionString: env.storage.ConnectionString, Users: env.users,
		RatePerSecond: env.rate, Latency: env.latency, PageSize: env.pageSize, Hosts: env.hosts,
	}
	closeLog, err := handlerLog(&cfg, "")
	if err != nil {
		return err
	}
	defer closeLog()
	res, err := bench.Throughput(ctx, cfg)
	if err != nil {
		return err
	}
	t.check(fmt.Sprintf("throughput: %d users via queues, %d handlers", res.Users, env.hosts), ms(res.Elapsed),
		fmt.Sprintf("%s = (%d served requests - %d burst) / %d per s", ms(res.Bound), res.Requests.Graph+res.Requests.Exchange-res.Requests.Throttled, env.rate, env.rate),
		res.OK() && float64(res.Elapsed) <= 1.2*float64(res.Bound), fmt.Sprintf("%.2fx the throttle bound (target <= 1.2x), %.1f users/s", float64(res.Elapsed)/float64(res.Bound), float64(res.Users)/res.Elapsed.Seconds()))
	t.row("  requests: Graph / Exchange / answered 429", fmt.Sprintf("%d / %d / %d", res.Requests.Graph, res.Requests.Exchange, res.Requests.Throttled), "", fmt.Sprintf("latency %s per request", env.latency))
	t.row("  429 answers per user", fmt.Sprintf("%.1f", res.ThrottledPerUser()), "", fmt.Sprintf("%d step deferrals; recovery timer fired %d times", res.Deferrals, res.RecoveryFirings))
	t.check("  lost or duplicated runs", fmt.Sprintf("%d runs, %v", sum(res.RunsPerUser, true), res.Statuses), fmt.Sprintf("%d succeeded, 1 per user", res.Users),
		res.Statuses[runs.Succeeded] == res.Users && res.RunsPerUser[1] == res.Users, fmt.Sprintf("runs per user %v", res.RunsPerUser))
	t.check("  password resets per user", fmt.Sprint(res.ResetsPerUser), "exactly 1 each", res.ResetsPerUser[1] == res.Users, "")
	t.check("  writes applied twice", fmt.Sprint(len(res.DuplicateWrites)), "0", len(res.DuplicateWrites) == 0,
		fmt.Sprintf("step attempts %d for %d steps (a deferred or redelivered step acts again)", res.Attempts, res.Steps))
	return nil
}

// benchSustained remediates env.sustainedUsers users through the queues while every write
// of the tenant is answered 429 (Retry-After env.sustainedRetryAfter) for
// env.sustainedWindow, then normally: every run must end succeeded.
func benchSustained(ctx context.Context, env *benchEnv, t *table) error {
	if err := checkAppRoot(env.appRoot); err != nil {
		return err
	}
	cfg := bench.ThroughputConfig{
		AppRoot: env.appRoot, ConnectionString: env.storage.ConnectionString, Users: env.sustainedUsers,
		RatePerSecond: env.rate, Latency: env.latency, PageSize: env.pageSize, Hosts: env.hosts,
		ThrottleWrites: env.sustainedWindow, ThrottleRetryAfter: env.sustainedRetryAfter,
	}
	closeLog, err := handlerLog(&cfg, ".sustained")
	if err != nil {
		return err
	}
	defer closeLog()
	res, err := bench.Throughput(ctx, cfg)
	if err != nil {
		return err
	}
	t.check(fmt.Sprintf("sustained throttle: %d users, every write 429 for %s", res.Users, env.sustainedWindow), ms(res.Elapsed),
		fmt.Sprintf("every run succeeded (Retry-After %s)", env.sustainedRetryAfter), res.OK(),
		fmt.Sprintf("runs %v; %d step deferrals; %d answered 429 (%.1f per user)", res.Statuses, res.Deferrals, res.Requests.Throttled, res.ThrottledPerUser()))
	t.check("  writes applied twice", fmt.Sprint(len(res.DuplicateWrites)), "0", len(res.DuplicateWrites) == 0,
		fmt.Sprintf("password resets per user %v", res.ResetsPerUser))
	return nil
}

func sum(m map[int]int, weighted bool) int {
	n := 0
	for k, v := range m {
		if weighted {
			n += k * v
		} else {
			n += v
		}
	}
	return n
}

// benchColdStart times process start to the first answer on GET /, then the peak memory of
// one handler serving 100 concurrent sync remediations.
// The goals of the cold start part (issue 25).
const (
	maxColdStart = 50 * time.Millisecond
	maxIdleRSS   = 20 << 20
	maxBusyRSS   = 60 << 20
)

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func benchColdStart(ctx context.Context, env *benchEnv, t *table) error {
	if err := checkAppRoot(env.appRoot); err != nil {
		return err
	}
	if err := benchSize(t, env.appRoot); err != nil {
		return err
	}
	sim := tenantsim.New(tenantsim.Options{Latency: env.latency, PageSize: env.pageSize})
	if _, err := sim.Start(); err != nil {
		return err
	}
	defer sim.Close()
	victims := bench.SeedVictims(sim, 100)
	handlerEnv := bench.HandlerEnv(sim, env.storage.ConnectionString, fmt.Sprintf("Cs%d", time.Now().UnixNano()%1e9), "MAX_REMEDIATIONS_PER_HOUR=1000")

	starts, err := bench.ColdStarts(ctx, env.appRoot, handlerEnv, env.starts)
	if err != nil {
		return err
	}
	median := starts[len(starts)/2]
	t.check("cold start: process start to first 200 on GET /", ms(median), "<= "+ms(maxColdStart), median <= maxColdStart,
		fmt.Sprintf("median of %d (min %s, max %s); tables are created in the background", len(starts), ms(starts[0]), ms(starts[len(starts)-1])))

	p, err := bench.StartProcess(env.appRoot, handlerEnv)
	if err != nil {
		return err
	}
	defer p.Stop()
	if err := p.WaitReady(ctx); err != nil {
		return err
	}
	idle, err := p.PeakRSS()
	if err != nil {
		return err
	}
	p.Stop()
	t.check("RSS after start", mib(idle), "<= "+mib(maxIdleRSS), idle <= maxIdleRSS, "VmHWM of the handler once it answers GET /")

	// 100 remediations at once: a handler instance runs at most 8 sync runs at a time
	// (maxSyncRuns, then 429), so they go through the queues, under the host emulator, which
	// delivers up to batchSize messages per queue at once.
	host, err := hostemu.Start(ctx, hostemu.Options{AppRoot: env.appRoot, StorageConnectionString: env.storage.ConnectionString, Env: handlerEnv})
	if err != nil {
		return err
	}
	defer host.Stop()
	start := time.Now()
	statuses, err := bench.QueuedRemediations(ctx, host, victims)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	peak, err := bench.PeakRSSOf(host.HandlerPID())
	if err != nil {
		return err
	}
	t.check("max RSS, 100 remediations at once (queues)", mib(peak), "<= "+mib(maxBusyRSS),
		statuses[runs.Succeeded] == len(victims) && peak <= maxBusyRSS,
		fmt.Sprintf("VmHWM of the handler; all 100 done in %s: %v", ms(elapsed), sortedStatuses(statuses)))
	return nil
}

func sortedStatuses(m map[runs.Status]int) []string {
	var out []string
	for s, n := range m {
		out = append(out, fmt.Sprintf("%s=%d", s, n))
	}
	sort.Strings(out)
	return out
}

// lockedWriter serialises writes from several handler processes' output copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
