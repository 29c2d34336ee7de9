package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/tourniquet/tourniquet/internal/hostemu"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// PathComparison is the same full remediation measured in process and through the real
// handler binary under the host emulator (HTTP forwarded by the host, Table Storage on
// Azurite), on one simulator, alternately, each run for a user of its own.
type PathComparison struct {
	InProcess, Handler LatencyResult
}

// PathOptions shape CompareHandlerPath's victims.
type PathOptions struct {
	// GlobalAdmin gives each victim an active Global Administrator assignment just before
	// its run (two other Global Administrators exist), so the run takes the lockout guard's
	// and remove-admin-roles' Global Administrator path.
	GlobalAdmin bool
	// CriticalPath is the hand-derived chain of dependent requests (0: CriticalPath).
	CriticalPath int
}

// Overhead is how much longer the handler path takes than in process (0.05 = 5 %).
func (p PathComparison) Overhead() float64 {
	if p.InProcess.Wall <= 0 {
		return 0
	}
	return float64(p.Handler.Wall)/float64(p.InProcess.Wall) - 1
}

// CompareHandlerPath remediates 2*(iterations+1) seeded victims in sync mode, alternating
// between an in-process service wired as cmd/handler wires it and POST /api/remediations
// through the host emulator to the handler in appRoot; the first of each is a warm-up
// (tokens, connections, tables). Medians are reported.
func (e *LatencyEnv) CompareHandlerPath(ctx context.Context, appRoot, connectionString string, latency time.Duration, pageSize, iterations int, opts PathOptions) (PathComparison, error) {
	path := opts.CriticalPath
	if path == 0 {
		path = CriticalPath
	}
	var cmp PathComparison
	sim := tenantsim.New(tenantsim.Options{Latency: latency, PageSize: pageSize})
	if _, err := sim.Start(); err != nil {
		return cmp, fmt.Errorf("bench: simulator: %w", err)
	}
	defer sim.Close()
	victims := SeedVictims(sim, 2*(iterations+1))

	svc, err := e.service(sim)
	if err != nil {
		return cmp, err
	}
	env := HandlerEnv(sim, connectionString, fmt.Sprintf("Hp%d", time.Now().UnixNano()%1e9), "MAX_REMEDIATIONS_PER_HOUR=1000")
	host, err := hostemu.Start(ctx, hostemu.Options{AppRoot: appRoot, StorageConnectionString: connectionString, Env: env})
	if err != nil {
		return cmp, fmt.Errorf("bench: host: %w", err)
	}
	defer host.Stop()
	client := &http.Client{Timeout: 2 * time.Minute}

	type sample struct {
		wall   time.Duration
		counts Counts
		status runs.Status
		chain  []string
	}
	prepare := func(v Victim) {
		if opts.GlobalAdmin {
			sim.AssignRole(v.ID, tenantsim.RoleGlobalAdministrator, "/")
		}
		sim.ResetRequests()
	}
	var inProc, handler []sample
	for i := 0; i <= iterations; i++ {
		// In process.
		v := victims[2*i]
		prepare(v)
		start := time.Now()
		started, err := svc.Start(ctx, remediation.StartRequest{User: v.UPN, Mode: "sync", Reason: "benchmark", RequestedBy: "bench"})
		wall := time.Since(start)
		if err != nil {
			return cmp, fmt.Errorf("bench: in-process remediation: %w", err)
		}
		if i > 0 {
			inProc = append(inProc, sample{wall, Count(sim.Requests()), started.Run.Status, chainOf(sim.Requests())})
		}

		// Through the handler.
		v = victims[2*i+1]
		prepare(v)
		body, _ := json.Marshal(map[string]any{"user": v.UPN, "mode": "sync", "reason": "benchmark"})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, host.URL()+"/api/remediations", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		start = time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return cmp, fmt.Errorf("bench: remediation through the handler: %w", err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		wall = time.Since(start)
		var run runs.Run
		if err != nil || json.Unmarshal(data, &run) != nil {
			return cmp, fmt.Errorf("bench: remediation through the handler: %d %s", resp.StatusCode, data)
		}
		if i > 0 {
			handler = append(handler, sample{wall, Count(sim.Requests()), run.Status, chainOf(sim.Requests())})
		}
	}
	summarise := func(samples []sample) LatencyResult {
		sort.Slice(samples, func(a, b int) bool { return samples[a].wall < samples[b].wall })
		med := samples[len(samples)/2]
		return LatencyResult{Latency: latency, Iterations: len(samples), Wall: med.wall, WallMin: samples[0].wall,
			Requests: med.counts, LowerBound: time.Duration(path) * latency, Status: med.status,
			ChainDepth: len(med.chain), Chain: med.chain}
	}
	cmp.InProcess, cmp.Handler = summarise(inProc), summarise(handler)
	return cmp, nil
}
