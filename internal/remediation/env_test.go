package remediation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/config"
	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/identity"
	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/runs/runstest"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

var (
	// hostQueues is the repository's host.json retry policy, which the tests' host-like
	// drivers follow.
	hostQueues = config.ReadHostQueues(filepath.Join("..", ".."))

	tableSvc *aztables.ServiceClient
	// tableGuard refuses, as Azure does, any entity Azurite would store but Azure would not.
	tableGuard  runstest.Guard
	azuriteConn string // for tests that build a store with a transport of their own
)

// TestMain starts Azurite once, and one simulator whose managed identity endpoint serves
// every test: simulators in one process accept each other's tokens (MSAL caches managed
// identity tokens process-wide), so each test can have a tenant of its own and run in
// parallel.
func TestMain(m *testing.M) {
	inst, err := azurite.Shared(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "azurite:", err)
		os.Exit(1)
	}
	azuriteConn = inst.ConnectionString
	tableSvc, err = aztables.NewServiceClientFromConnectionString(inst.ConnectionString, tableGuard.ClientOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tokens := tenantsim.New(tenantsim.Options{})
	if _, err := tokens.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("IDENTITY_ENDPOINT", tokens.IdentityEndpoint())
	os.Setenv("IDENTITY_HEADER", tokens.IdentityHeader())
	code := m.Run()
	for _, r := range tableGuard.Refused() {
		fmt.Fprintln(os.Stderr, "the Table service would refuse:", r)
		code = 1
	}
	tokens.Close()
	_ = inst.Stop()
	os.Exit(code)
}

// memQueue stands in for the step queues: it records messages, and deliver plays the host.
type memQueue struct {
	mu   sync.Mutex
	msgs []queued
	sent map[string]int
	fail atomic.Bool
}

type queued struct {
	queue string
	runID string
}

func (q *memQueue) Enqueue(ctx context.Context, queue string, message []byte) error {
	if q.fail.Load() {
		return fmt.Errorf("queue unavailable")
	}
	var m struct {
		RunID string `json:"runId"`
	}
	if err := json.Unmarshal(message, &m); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, queued{queue, m.RunID})
	if q.sent == nil {
		q.sent = map[string]int{}
	}
	q.sent[queue]++
	return nil
}

func (q *memQueue) take() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.msgs
	q.msgs = nil
	return out
}

type env struct {
	t     *testing.T
	sim   *tenantsim.Sim
	demo  tenantsim.Demo
	svc   *remediation.Service
	queue *memQueue
	logs  *syncBuffer
	// prefix names the env's tables (<prefix>Runs...).
	prefix string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var prefixes atomic.Int64

func newEnv(t *testing.T, cfg remediation.Config) *env {
	t.Helper()
	return newEnvSeeded(t, cfg, tenantsim.SeedDemo)
}

// newEnvSeeded is newEnv with a tenant seeded by seed.
func newEnvSeeded(t *testing.T, cfg remediation.Config, seed func(*tenantsim.Sim) tenantsim.Demo) *env {
	t.Helper()
	sim := tenantsim.New(tenantsim.Options{})
	if _, err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	demo := seed(sim)
	cred, err := identity.NewCredential(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.New(graph.Options{BaseURL: sim.GraphURL(), Credential: cred, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	x, err := exchange.New(exchange.Options{BaseURL: sim.ExchangeURL(), TenantID: sim.TenantID(), Credential: cred, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("R%d%d", time.Now().UnixNano()%1e6, prefixes.Add(1))
	store, err := runs.Open(context.Background(), tableSvc, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxPerHour == 0 {
		cfg.MaxPerHour = 100
	}
	if cfg.MaxDequeueCount == 0 {
		cfg.MaxDequeueCount = hostQueues.MaxDequeueCount
	}
	logs := &syncBuffer{}
	q := &memQueue{}
	svc := &remediation.Service{
		Store: store, Runner: &steps.Runner{Directory: g, Mailboxes: x, Locker: store, AuditLogs: g, MailLogs: x}, Queue: q, Config: cfg,
		Log: slog.New(logevent.NewJSONHandler(logs, nil)), // as cmd/handler logs
	}
	return &env{t: t, sim: sim, demo: demo, svc: svc, queue: q, logs: logs, prefix: prefix}
}

func (e *env) start(req remediation.StartRequest) *runs.Run {
	e.t.Helper()
	started, err := e.svc.Start(context.Background(), req)
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	return started.Run
}

func (e *env) get(runID string) *runs.Run {
	e.t.Helper()
	r, err := e.svc.Get(context.Background(), runID)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// drain plays the host: delivers every queued message (copies times each, concurrently)
// until no message is left.
func (e *env) drain(copies int) {
	e.t.Helper()
	for round := 0; round < 20; round++ {
		msgs := e.queue.take()
		if len(msgs) == 0 {
			return
		}
		var wg sync.WaitGroup
		for _, m := range msgs {
			name, _ := catalog.Parse(strings.TrimPrefix(m.queue, "step-"))
			for c := 0; c < copies; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := e.svc.ExecuteStep(context.Background(), m.runID, name, remediation.Delivery{Queued: true, DequeueCount: 1}); err != nil {
						e.t.Errorf("deliver %s: %v", m.queue, err)
					}
				}()
			}
		}
		wg.Wait()
	}
	e.t.Fatal("queues never drained")
}

func stepStatuses(r *runs.Run) map[string]runs.StepStatus {
	out := map[string]runs.StepStatus{}
	for _, s := range r.Steps {
		out[s.Name] = s.Status
	}
	return out
}

// writes lists the requests that could change the tenant.
func writes(sim *tenantsim.Sim) []string {
	var out []string
	for _, r := range sim.Requests() {
		switch {
		case r.Service == "graph" && r.Method != "GET" && !strings.HasSuffix(r.Path, "$batch"):
			out = append(out, r.Method+" "+r.Path)
		case r.Service == "exchange" && r.Cmdlet != "" && !strings.HasPrefix(r.Cmdlet, "Get-"):
			out = append(out, r.Cmdlet)
		}
	}
	return out
}
