package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/identity"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
	"github.com/tourniquet/tourniquet/internal/throttle"
)

// CriticalPath is the longest chain of dependent Graph/Exchange requests of a full
// remediation of the demo user (docs/performance.md derives it from the code):
//
//	GetUser                                                           1
//	remove-admin-roles: 4 role listings (concurrent)                   1
//	                    the group's roles: 2 listings (concurrent)     1
//	                    4 removals (concurrent)                        1
//	unblock-sender:     Get-BlockedSenderAddress                       1
//	                    Remove-BlockedSenderAddress                    1
//
// Every other step is a chain of 2 (read, act; or reset, revoke) alongside the 3 of
// remove-admin-roles, before unblock-sender, which waits for all of them.
const CriticalPath = 6

// ContainmentCriticalPath is the same for full containment (every catalog step) of the
// demo user: remove-mailbox-delegates' chain is the longest (docs/performance.md derives it):
//
//	GetUser                                                                 1
//	remove-mailbox-delegates: Get-Mailbox and the permission listings       1
//	                          the trustees' object ids (restore aims by     1
//	                          object id, not by a name that may be reused)
//	                          the removals                                  1
//	                          the listings again (a removal Exchange        1
//	                          answered may not show yet: replication)
//	unblock-sender: Get-BlockedSenderAddress, Remove-BlockedSenderAddress   2
//
// block-sign-in (account and standing, PATCH, then revoke-sessions), revoke-app-consents
// (grants and the audit log at once, the applications' names, the removals) and investigate
// (the sources at once, the message trace beside the accepted domains, related users) are
// chains of 3 beside it.
const ContainmentCriticalPath = 7

// chainOf names the calls of the longest chain of dependent requests in log.
func chainOf(log []tenantsim.Request) []string {
	var chain []string
	for _, r := range LongestChain(log) {
		call := r.Method + " " + r.Path
		if r.Cmdlet != "" {
			call = r.Cmdlet
		}
		chain = append(chain, call)
	}
	return chain
}

// GlobalAdminCriticalPath is CriticalPath for a victim who also holds Global Administrator
// directly (docs/performance.md derives it):
//
//	GetUser (beside it the lockout guard's quick question)                     1
//	lockout guard: the Global Administrators, under its lock                   1
//	remove-admin-roles: 4 role listings                                        1
//	                    the group's roles; the Global Administrator count      1
//	                    (under the tenant-wide lock, beside the group's)
//	                    removals                                               1
//	                    the count again once the role is gone                  1
//	unblock-sender:     Get-BlockedSenderAddress, Remove-BlockedSenderAddress  2
const GlobalAdminCriticalPath = 8

// LatencyResult is one measurement of a full sync remediation.
type LatencyResult struct {
	Latency       time.Duration
	Iterations    int
	Wall          time.Duration // median
	WallMin       time.Duration
	Requests      Counts // of the median run
	LowerBound    time.Duration
	TableRequests int           // Table Storage requests of one run
	TableTime     time.Duration // summed duration of those requests (they overlap when steps run concurrently)
	// Timeline is the median run's Table Storage and tenant requests, one a line (Timeline).
	Timeline string
	Status   runs.Status
	// ChainDepth is the longest chain of dependent requests the median run made (see
	// ChainDepth), to hold against the hand-derived bound; Chain names its calls.
	ChainDepth int
	Chain      []string
}

// Ratio is the median wall time over the lower bound.
func (r LatencyResult) Ratio() float64 {
	if r.LowerBound <= 0 {
		return 0
	}
	return float64(r.Wall) / float64(r.LowerBound)
}

// LatencyEnv is what the latency benchmark shares across iterations: the run-record store
// (with a Table transport that counts and times requests) and a managed identity endpoint.
type LatencyEnv struct {
	// Profile names the tenant profile each iteration seeds (tenantsim.Profiles); "" is
	// the demo tenant.
	Profile string
	// Steps are the steps of each run (nil: the default six) and CriticalPath their
	// hand-derived chain of dependent requests (0: CriticalPath, the six's).
	Steps        []catalog.Name
	CriticalPath int

	store  *runs.Store
	tables *timedTransport
	cred   azcore.TokenCredential
	tokens *tenantsim.Sim
}

// NewLatencyEnv opens a run-record store under prefix on the storage account of
// connectionString and starts a token endpoint (it sets IDENTITY_ENDPOINT and
// IDENTITY_HEADER in this process, as the Functions platform does).
func NewLatencyEnv(ctx context.Context, connectionString, prefix string) (*LatencyEnv, error) {
	tokens := tenantsim.New(tenantsim.Options{})
	if _, err := tokens.Start(); err != nil {
		return nil, fmt.Errorf("bench: token endpoint: %w", err)
	}
	os.Setenv("IDENTITY_ENDPOINT", tokens.IdentityEndpoint())
	os.Setenv("IDENTITY_HEADER", tokens.IdentityHeader())
	cred, err := identity.NewCredential(os.Getenv)
	if err != nil {
		tokens.Close()
		return nil, fmt.Errorf("bench: credential: %w", err)
	}
	tt := &timedTransport{next: &http.Client{}}
	svc, err := aztables.NewServiceClientFromConnectionString(connectionString, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: tt}})
	if err != nil {
		tokens.Close()
		return nil, fmt.Errorf("bench: table client: %w", err)
	}
	store, err := runs.Open(ctx, svc, prefix)
	if err != nil {
		tokens.Close()
		return nil, fmt.Errorf("bench: run-record store: %w", err)
	}
	return &LatencyEnv{store: store, tables: tt, cred: cred, tokens: tokens}, nil
}

// Close stops the token endpoint.
func (e *LatencyEnv) Close() { e.tokens.Close() }

// MeasureLatency remediates the compromised user of a fresh simulator seeded with e.Profile (injected latency per
// request, pageSize items per page) in sync mode iterations times, after one warm-up run
// (tokens, connections), and reports the median.
func (e *LatencyEnv) MeasureLatency(ctx context.Context, latency time.Duration, pageSize, iterations int) (LatencyResult, error) {
	path := e.CriticalPath
	if path == 0 {
		path = CriticalPath
	}
	res := LatencyResult{Latency: latency, Iterations: iterations, LowerBound: time.Duration(path) * latency}
	var names []string
	for _, n := range e.Steps {
		names = append(names, string(n))
	}
	type sample struct {
		wall      time.Duration
		counts    Counts
		tableN    int
		tableTime time.Duration
		status    runs.Status
		chain     []string
		timeline  string
	}
	var samples []sample
	for i := -1; i < iterations; i++ {
		sim := tenantsim.New(tenantsim.Options{Latency: latency, PageSize: pageSize})
		if _, err := sim.Start(); err != nil {
			return res, fmt.Errorf("bench: simulator: %w", err)
		}
		profile := e.Profile
		if profile == "" {
			profile = "demo"
		}
		demo, err := tenantsim.SeedProfile(sim, profile)
		if err != nil {
			sim.Close()
			return res, fmt.Errorf("bench: %w", err)
		}
		svc, err := e.service(sim)
		if err != nil {
			sim.Close()
			return res, err
		}
		e.tables.reset()
		start := time.Now()
		started, err := svc.Start(ctx, remediation.StartRequest{User: demo.UPN, Steps: names, Mode: "sync", Reason: "benchmark", RequestedBy: "bench"})
		wall := time.Since(start)
		n, d := e.tables.totals()
		log := sim.Requests()
		timeline := Timeline(start, append(e.tables.calls(), TenantCalls(log)...))
		sim.Close()
		if err != nil {
			return res, fmt.Errorf("bench: remediation: %w", err)
		}
		if i >= 0 { // i == -1 is the warm-up
			samples = append(samples, sample{wall, Count(log), n, d, started.Run.Status, chainOf(log), timeline})
		}
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a].wall < samples[b].wall })
	med := samples[len(samples)/2]
	res.Wall, res.WallMin = med.wall, samples[0].wall
	res.Requests, res.TableRequests, res.TableTime, res.Status, res.ChainDepth, res.Chain = med.counts, med.tableN, med.tableTime, med.status, len(med.chain), med.chain
	res.Timeline = med.timeline
	return res, nil
}

// service wires a remediation service to sim the way cmd/handler does (default client
// settings), with this environment's store.
func (e *LatencyEnv) service(sim *tenantsim.Sim) (*remediation.Service, error) {
	graphGate := &throttle.Gate{Service: "graph", Shared: e.store}
	exchangeGate := &throttle.Gate{Service: "exchange", Shared: e.store}
	g, err := graph.New(graph.Options{BaseURL: sim.GraphURL(), Credential: e.cred, HTTPClient: graphGate.HTTPClient(0)})
	if err != nil {
		return nil, fmt.Errorf("bench: graph client: %w", err)
	}
	x, err := exchange.New(exchange.Options{BaseURL: sim.ExchangeURL(), TenantID: sim.TenantID(), Credential: e.cred, HTTPClient: exchangeGate.HTTPClient(35 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("bench: exchange client: %w", err)
	}
	return &remediation.Service{
		Store:  e.store,
		Runner: &steps.Runner{Directory: g, Mailboxes: x, Locker: e.store, AuditLogs: g, MailLogs: x},
		Queue:  noQueue{},
		Config: remediation.Config{MaxPerHour: 1 << 20, MaxDequeueCount: 5},
		Log:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}, nil
}

// noQueue refuses: sync runs never enqueue.
type noQueue struct{}

func (noQueue) Enqueue(context.Context, string, []byte) error {
	return fmt.Errorf("bench: sync runs do not use the queues")
}

// timedTransport counts Table Storage requests and sums their durations.
type timedTransport struct {
	next *http.Client
	mu   sync.Mutex
	n    int
	sum  time.Duration
	log  []Call
}

func (t *timedTransport) Do(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.Do(req)
	if err == nil {
		// The SDK reads the body after Do returns; read it here so the time counts.
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr != nil {
			return nil, fmt.Errorf("bench: read table answer: %w", rerr)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	end := time.Now()
	t.mu.Lock()
	t.n++
	t.sum += end.Sub(start)
	t.log = append(t.log, tableCall(req.Method, req.URL, start, end))
	t.mu.Unlock()
	return resp, err
}

func (t *timedTransport) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n, t.sum, t.log = 0, 0, nil
}

func (t *timedTransport) calls() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Call(nil), t.log...)
}

func (t *timedTransport) totals() (int, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n, t.sum
}
