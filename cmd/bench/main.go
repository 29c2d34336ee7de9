// Command bench measures Tourniquet and prints one table: remediation latency against the
// critical path, throughput through the queues under a throttling tenant, cold start and
// memory of the handler binary with its size and the deployment zip's, and the per-invocation
// overhead of the host protocol path.
// `make bench` runs it from the repository root after `make build`; docs/performance.md
// holds the figures and how to read them.
//
// TOURNIQUET_BENCH_LONG=1 raises the throughput run from 100 to 1,000 users.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// benchEnv is what every part gets: the options and one Azurite for all of them.
type benchEnv struct {
	options
	storage *azurite.Instance
}

type options struct {
	appRoot    string
	latency    time.Duration
	pageSize   int
	iterations int
	users      int
	rate       int
	hosts      int
	starts     int
	only       string
	profile    string
	traceDir   string

	sustainedUsers      int
	sustainedWindow     time.Duration
	sustainedRetryAfter time.Duration
}

func run(ctx context.Context, args []string) error {
	var (
		o   options
		err error
	)
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.appRoot, "app", ".", "Functions app root holding host.json, the function folders and ./handler (make build)")
	fs.DurationVar(&o.latency, "latency", 50*time.Millisecond, "latency the simulator adds to every Graph/Exchange request")
	fs.IntVar(&o.pageSize, "page-size", 100, "simulator page size")
	fs.IntVar(&o.iterations, "iterations", 5, "timed sync remediations per latency setting (median reported)")
	fs.IntVar(&o.users, "users", 100, "users remediated through the queues (1000 with TOURNIQUET_BENCH_LONG=1)")
	fs.IntVar(&o.rate, "rate", 100, "simulator rate limit, requests per second (429 + Retry-After beyond it)")
	fs.IntVar(&o.hosts, "hosts", 3, "handler processes sharing one Azurite in the throughput run")
	fs.IntVar(&o.starts, "starts", 7, "cold starts measured (median reported)")
	fs.StringVar(&o.profile, "profile", "demo", "tenant profile of the latency runs: "+strings.Join(tenantsim.ProfileNames(), ", "))
	fs.IntVar(&o.sustainedUsers, "sustained-users", 50, "users remediated through the queues under a sustained throttle")
	fs.DurationVar(&o.sustainedWindow, "sustained-window", 2*time.Minute, "how long every write is answered 429 in the sustained-throttle run")
	fs.DurationVar(&o.sustainedRetryAfter, "sustained-retry-after", 30*time.Second, "the Retry-After of those 429s")
	fs.StringVar(&o.traceDir, "trace", "", "write the timeline of each latency part's median run (Table Storage and tenant requests) into this directory")
	fs.StringVar(&o.only, "only", "", "run one part only: latency, throughput, sustained, coldstart, invocation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.appRoot, err = filepath.Abs(o.appRoot); err != nil {
		return err
	}
	if os.Getenv("TOURNIQUET_BENCH_LONG") == "1" {
		o.users = 1000
	}
	t := &table{}
	t.note("machine: %s/%s, %d CPUs, %s; %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), memTotal(), runtime.Version())
	parts := []struct {
		name string
		run  func(context.Context, *benchEnv, *table) error
	}{
		{"latency", benchLatency},
		{"throughput", benchThroughput},
		{"sustained", benchSustained},
		{"coldstart", benchColdStart},
		{"invocation", benchInvocation},
	}
	storage, err := azurite.Start(ctx)
	if err != nil {
		return fmt.Errorf("azurite: %w", err)
	}
	defer storage.Stop()
	env := &benchEnv{options: o, storage: storage}
	for _, p := range parts {
		if o.only != "" && o.only != p.name {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s...\n", p.name)
		if err := p.run(ctx, env, t); err != nil {
			t.row(p.name, "FAILED", "", err.Error())
		}
	}
	t.print(os.Stdout)
	if t.failed {
		return fmt.Errorf("a benchmark failed or missed its check (see the table)")
	}
	return nil
}
