package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/bench"
	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// benchLatency times a full sync remediation of the demo user with the configured latency
// and with none (what is left is Tourniquet's own time: Table Storage and CPU).
func benchLatency(ctx context.Context, env *benchEnv, t *table) error {
	le, err := bench.NewLatencyEnv(ctx, env.storage.ConnectionString, fmt.Sprintf("Bench%d", time.Now().Unix()%100000))
	if err != nil {
		return err
	}
	defer le.Close()
	le.Profile = env.profile
	slow, err := le.MeasureLatency(ctx, env.latency, env.pageSize, env.iterations)
	if err != nil {
		return err
	}
	fast, err := le.MeasureLatency(ctx, 0, env.pageSize, env.iterations)
	if err != nil {
		return err
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	t.check("remediation wall time (sync, demo user)", ms(slow.Wall),
		fmt.Sprintf("%s = %d dependent requests x %s", ms(slow.LowerBound), bench.CriticalPath, env.latency),
		slow.Status == runs.Succeeded, fmt.Sprintf("median of %d, min %s, run %s", slow.Iterations, ms(slow.WallMin), slow.Status))
	t.check("  ratio to the critical path", fmt.Sprintf("%.2f", slow.Ratio()), "<= 1.30", slow.Ratio() <= 1.3, "")
	t.row("  Graph / Exchange requests", fmt.Sprintf("%d / %d", slow.Requests.Graph, slow.Requests.Exchange), "", fmt.Sprintf("page size %d, tenant profile %s", env.pageSize, env.profile))
	t.row("  Table Storage requests", fmt.Sprintf("%d", slow.TableRequests), "", fmt.Sprintf("summed time %s (overlapping)", ms(slow.TableTime)))
	t.row("  same run, no injected latency", ms(fast.Wall), "", fmt.Sprintf("Tourniquet's own time on the path: Table Storage %s summed, rest CPU", ms(fast.TableTime)))
	t.row("  dependent requests as run", fmt.Sprintf("%d", slow.ChainDepth), fmt.Sprintf("%d derived", bench.CriticalPath), strings.Join(slow.Chain, " > "))

	// Full containment: every step of the catalog (the investigation included), against its
	// own hand-derived critical path.
	le.Steps, le.CriticalPath = catalog.All, bench.ContainmentCriticalPath
	full, err := le.MeasureLatency(ctx, env.latency, env.pageSize, env.iterations)
	if err != nil {
		return err
	}
	fullFast, err := le.MeasureLatency(ctx, 0, env.pageSize, env.iterations)
	if err != nil {
		return err
	}
	le.Steps, le.CriticalPath = nil, 0
	t.check("full containment wall time (sync, demo user)", ms(full.Wall),
		fmt.Sprintf("%s = %d dependent requests x %s", ms(full.LowerBound), bench.ContainmentCriticalPath, env.latency),
		full.Status == runs.Succeeded, fmt.Sprintf("all %d steps; median of %d, min %s, run %s", len(catalog.All), full.Iterations, ms(full.WallMin), full.Status))
	t.check("  ratio to the critical path", fmt.Sprintf("%.2f", full.Ratio()), "<= 1.30", full.Ratio() <= 1.3, "")
	t.row("  Graph / Exchange requests", fmt.Sprintf("%d / %d", full.Requests.Graph, full.Requests.Exchange), "", fmt.Sprintf("page size %d", env.pageSize))
	t.row("  Table Storage requests", fmt.Sprintf("%d", full.TableRequests), "", fmt.Sprintf("summed time %s (overlapping)", ms(full.TableTime)))
	t.row("  same run, no injected latency", ms(fullFast.Wall), "", fmt.Sprintf("Tourniquet's own time on the path: Table Storage %s summed, rest CPU", ms(fullFast.TableTime)))
	t.row("  dependent requests as run", fmt.Sprintf("%d", full.ChainDepth), fmt.Sprintf("%d derived", bench.ContainmentCriticalPath), strings.Join(full.Chain, " > "))
	if err := writeTimelines(env.traceDir, map[string]bench.LatencyResult{
		"latency-six": slow, "latency-six-no-latency": fast, "latency-containment": full, "latency-containment-no-latency": fullFast,
	}); err != nil {
		return err
	}

	// The same remediation through the real handler binary under the host emulator (HTTP
	// forwarded by the host, Table Storage on Azurite), alternating with in-process runs
	// on one simulator so both see the same tenant and machine load.
	if err := checkAppRoot(env.appRoot); err != nil {
		return err
	}
	cmp, err := le.CompareHandlerPath(ctx, env.appRoot, env.storage.ConnectionString, env.latency, env.pageSize, env.iterations, bench.PathOptions{})
	if err != nil {
		return err
	}
	t.check("full remediation in process (seeded victims)", ms(cmp.InProcess.Wall), fmt.Sprintf("%s critical path", ms(cmp.InProcess.LowerBound)),
		cmp.InProcess.Status == runs.Succeeded, fmt.Sprintf("ratio %.2f; median of %d, min %s", cmp.InProcess.Ratio(), cmp.InProcess.Iterations, ms(cmp.InProcess.WallMin)))
	t.check("full remediation through the handler binary", ms(cmp.Handler.Wall), fmt.Sprintf("%s critical path", ms(cmp.Handler.LowerBound)),
		cmp.Handler.Status == runs.Succeeded && cmp.Handler.Ratio() <= 1.2, fmt.Sprintf("ratio %.2f (target <= 1.20); median of %d, min %s; host emulator, HTTP forwarded", cmp.Handler.Ratio(), cmp.Handler.Iterations, ms(cmp.Handler.WallMin)))
	t.check("  handler path over in process", fmt.Sprintf("%+.1f %%", 100*cmp.Overhead()), "<= +10 %", cmp.Overhead() <= 0.10,
		fmt.Sprintf("Graph / Exchange requests %d / %d vs %d / %d", cmp.Handler.Requests.Graph, cmp.Handler.Requests.Exchange, cmp.InProcess.Requests.Graph, cmp.InProcess.Requests.Exchange))

	// A Global Administrator holder (issue 25): the lockout guard's count under its lock,
	// remove-admin-roles' count under the tenant-wide lock and its recount after the removal.
	ga, err := le.CompareHandlerPath(ctx, env.appRoot, env.storage.ConnectionString, env.latency, env.pageSize, env.iterations,
		bench.PathOptions{GlobalAdmin: true, CriticalPath: bench.GlobalAdminCriticalPath})
	if err != nil {
		return err
	}
	t.check("Global Administrator holder through the handler", ms(ga.Handler.Wall), fmt.Sprintf("%s = %d dependent requests x %s", ms(ga.Handler.LowerBound), bench.GlobalAdminCriticalPath, env.latency),
		ga.Handler.Status == runs.Succeeded && ga.Handler.Ratio() <= 1.2, fmt.Sprintf("ratio %.2f (target <= 1.20); median of %d, min %s; in process %s (%.2f)", ga.Handler.Ratio(), ga.Handler.Iterations, ms(ga.Handler.WallMin), ms(ga.InProcess.Wall), ga.InProcess.Ratio()))
	t.row("  Graph / Exchange requests", fmt.Sprintf("%d / %d", ga.Handler.Requests.Graph, ga.Handler.Requests.Exchange), "", "")
	t.row("  dependent requests as run", fmt.Sprintf("%d", ga.Handler.ChainDepth), fmt.Sprintf("%d derived", bench.GlobalAdminCriticalPath), strings.Join(ga.Handler.Chain, " > "))
	return nil
}

// writeTimelines writes each result's median-run timeline to dir/<name>.txt (-trace).
func writeTimelines(dir string, results map[string]bench.LatencyResult) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, r := range results {
		path := filepath.Join(dir, name+".txt")
		head := fmt.Sprintf("# %s: median run of %d, %s wall, bound %s; milliseconds from the start request\n", name, r.Iterations, r.Wall, r.LowerBound)
		if err := os.WriteFile(path, []byte(head+r.Timeline), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "bench: timeline written to", path)
	}
	return nil
}
