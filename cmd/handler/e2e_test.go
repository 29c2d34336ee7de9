package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/config"
	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/hostemu"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// appRoot is a Functions app root made for the tests: the repository's host.json and
// function folders, and a handler built from this package. fastRetryRoot is the same app
// with host.json's visibilityTimeout cut to 1 s, for the tests that exhaust a message's
// deliveries (maxDequeueCount is the repository's): they test what the last delivery does,
// not the wait between deliveries.
var appRoot, fastRetryRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tourniquet-app-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := functions.MakeAppRoot(dir, filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, "app root:", err)
		os.Exit(1)
	}
	appRoot = dir
	fast, err := os.MkdirTemp("", "tourniquet-app-fast-")
	if err == nil {
		err = makeFastRetryAppRoot(dir, fast)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fast-retry app root:", err)
		os.Exit(1)
	}
	fastRetryRoot = fast
	code := m.Run()
	os.RemoveAll(dir)
	os.RemoveAll(fast)
	os.Exit(code)
}

// makeFastRetryAppRoot copies the app root from with host.json's visibilityTimeout set to
// 1 s; everything else, maxDequeueCount included, stays as the repository has it.
func makeFastRetryAppRoot(from, dir string) error {
	raw, err := os.ReadFile(filepath.Join(from, "host.json"))
	if err != nil {
		return err
	}
	var host map[string]any
	if err := json.Unmarshal(raw, &host); err != nil {
		return err
	}
	host["extensions"].(map[string]any)["queues"].(map[string]any)["visibilityTimeout"] = "00:00:01"
	out, _ := json.MarshalIndent(host, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "host.json"), out, 0o644); err != nil {
		return err
	}
	if err := functions.Generate(dir); err != nil {
		return err
	}
	bin, err := os.ReadFile(filepath.Join(from, "handler"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "handler"), bin, 0o755)
}

type stack struct {
	t       *testing.T
	root    string // the app root; appRoot unless set
	storage *azurite.Instance
	sim     *tenantsim.Sim
	demo    tenantsim.Demo
	host    *hostemu.Host
	output  *bytes.Buffer
	key     string // TOURNIQUET_RECORD_KEY, one per stack so restarted handlers share it
}

// recordKey is the stack's TOURNIQUET_RECORD_KEY, made on first use.
func (s *stack) recordKey() string {
	if s.key == "" {
		s.key = base64.StdEncoding.EncodeToString(remediation.NewRecordKey())
	}
	return s.key
}

// startStack starts Azurite (its own, so queues do not collide), a seeded tenant
// simulator, and the real handler binary under the host emulator.
func startStack(t *testing.T, env ...string) *stack {
	t.Helper()
	return startStackIn(t, appRoot, env...)
}

// startStackIn is startStack with the app root root.
func startStackIn(t *testing.T, root string, env ...string) *stack {
	t.Helper()
	return startStackConfigured(t, root, nil, env...)
}

// startStackConfigured is startStackIn with configure run on the seeded simulator before
// the handler starts (a tenant or deployment played as misconfigured from the first token
// the handler asks for).
func startStackConfigured(t *testing.T, root string, configure func(*tenantsim.Sim), env ...string) *stack {
	t.Helper()
	ctx := context.Background()
	storage, err := azurite.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = storage.Stop() })
	sim := tenantsim.New(tenantsim.Options{})
	if _, err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	s := &stack{t: t, root: root, storage: storage, sim: sim, demo: tenantsim.SeedDemo(sim), output: &bytes.Buffer{}}
	if configure != nil {
		configure(sim)
	}
	s.host = s.startHost(env...)
	return s
}

func (s *stack) startHost(env ...string) *hostemu.Host {
	s.t.Helper()
	base := []string{
		"AzureWebJobsStorage=" + s.storage.ConnectionString,
		"AZURE_TENANT_ID=" + s.sim.TenantID(),
		"GRAPH_BASE_URL=" + s.sim.GraphURL(),
		"EXCHANGE_BASE_URL=" + s.sim.ExchangeURL(),
		"IDENTITY_ENDPOINT=" + s.sim.IdentityEndpoint(),
		"IDENTITY_HEADER=" + s.sim.IdentityHeader(),
		"PROTECTED_ACCOUNTS=" + s.demo.BreakGlassUPN,
		"SWEEP_SCHEDULE=0 */15 * * * *",
		// A record key of the deployment (as a Key Vault reference gives on Azure): runs
		// verify across handler restarts, and health is not degraded for want of it.
		"TOURNIQUET_RECORD_KEY=" + s.recordKey(),
	}
	root := s.root
	if root == "" {
		root = appRoot
	}
	host, err := hostemu.Start(context.Background(), hostemu.Options{
		AppRoot: root, StorageConnectionString: s.storage.ConnectionString,
		Env: append(base, env...), Output: s.output,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = host.Stop() })
	return host
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("HTTP %d body %s: %v", r.status, r.body, err)
	}
}

func call(t *testing.T, h *hostemu.Host, method, path string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, h.URL()+path, rd)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, data}
}

// waitIdle waits for the queues to drain: long enough for a message that fails to come
// back every visibilityTimeout until maxDequeueCount, as host.json sets them.
func (s *stack) waitIdle() {
	s.t.Helper()
	root := s.root
	if root == "" {
		root = appRoot
	}
	q := config.ReadHostQueues(root)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second+time.Duration(q.MaxDequeueCount)*q.VisibilityTimeout)
	defer cancel()
	if err := s.host.WaitIdle(ctx); err != nil {
		s.t.Fatalf("queues never drained: %v\n%s", err, s.output.String())
	}
}

func TestHTTPAndQueuePathsThroughTheHost(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	h := s.host

	if r := call(t, h, "GET", "/api/health", nil); r.status != 200 || !strings.Contains(string(r.body), `"ok"`) || strings.Contains(string(r.body), s.demo.BreakGlassUPN) {
		t.Fatalf("health: %d %s", r.status, r.body)
	}

	// One step over HTTP.
	r := call(t, h, "POST", "/api/steps/revoke-sessions", map[string]any{"user": s.demo.UPN, "reason": "e2e"})
	var run runs.Run
	r.json(t, &run)
	if r.status != 200 || run.Status != runs.Succeeded || len(run.Steps) != 1 || run.Steps[0].Status != runs.StepSucceeded {
		t.Fatalf("step over HTTP: %d %s", r.status, r.body)
	}
	if s.sim.SessionsRevoked(s.demo.UserID) != 1 {
		t.Fatal("sessions not revoked")
	}

	// A full async run through the step queues.
	r = call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "reason": "e2e async"})
	r.json(t, &run)
	if r.status != 202 || r.header.Get("Location") != "/api/remediations/"+run.RunID {
		t.Fatalf("async start: %d %v %s", r.status, r.header, r.body)
	}
	s.waitIdle()
	call(t, h, "GET", "/api/remediations/"+run.RunID, nil).json(t, &run)
	if run.Status != runs.Succeeded {
		t.Fatalf("async run %s: %+v\n%s", run.Status, run.Steps, s.output.String())
	}

	// The same request with the Idempotency-Key header twice: one run.
	var first, replay runs.Run
	call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "mode": "sync", "steps": []string{"revoke-sessions"}}, "Idempotency-Key", "INC-77").json(t, &first)
	call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "mode": "sync", "steps": []string{"revoke-sessions"}}, "Idempotency-Key", "INC-77").json(t, &replay)
	if first.RunID == "" || replay.RunID != first.RunID || first.IdempotencyKey != "INC-77" {
		t.Fatalf("idempotent replay: first %q, second %q", first.RunID, replay.RunID)
	}

	// A full run started by a message on the remediations queue.
	rq, err := azqueue.NewQueueClientFromConnectionString(s.storage.ConnectionString, "remediations", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rq.EnqueueMessage(context.Background(), `{"user":"`+s.demo.AssistantUPN+`","reason":"ticket 12","idempotencyKey":"TCK-12"}`, nil); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	var fromQueue []runs.Run
	call(t, h, "GET", "/api/remediations?user="+s.demo.AssistantUPN, nil).json(t, &fromQueue)
	if len(fromQueue) != 1 || fromQueue[0].RequestedBy != "queue:remediations" || fromQueue[0].Status != runs.Succeeded || len(fromQueue[0].Steps) != 6 {
		t.Fatalf("run from the remediations queue: %+v", fromQueue)
	}

	// A one-step run started by a queue message.
	q, err := azqueue.NewQueueClientFromConnectionString(s.storage.ConnectionString, "step-revoke-sessions", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.EnqueueMessage(context.Background(), `{"user":"`+s.demo.ManagerUPN+`"}`, nil); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	var list []runs.Run
	call(t, h, "GET", "/api/remediations?user="+s.demo.ManagerUPN, nil).json(t, &list)
	if len(list) != 1 || list[0].RequestedBy != "queue:step-revoke-sessions" || list[0].Status != runs.Succeeded {
		t.Fatalf("queue-started run: %+v", list)
	}

	// Every Graph and Exchange call carried a bearer token.
	for _, req := range s.sim.Requests() {
		if req.Service != "identity" && !req.Authorized {
			t.Fatalf("unauthorized request reached the simulator: %s %s", req.Method, req.Path)
		}
	}
}

func TestRunRecordsSurviveARestart(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	r := call(t, s.host, "POST", "/api/steps/revoke-sessions", map[string]any{"user": s.demo.UPN})
	var before runs.Run
	r.json(t, &before)
	if err := s.host.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.host.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	var after runs.Run
	call(t, s.host, "GET", "/api/remediations/"+before.RunID, nil).json(t, &after)
	if after.RunID != before.RunID || after.Status != before.Status || len(after.Steps) != 1 {
		t.Fatalf("after restart: %+v", after)
	}
}

func TestExhaustedRetriesEndInThePoisonQueueWithTheRunFailed(t *testing.T) {
	t.Parallel()
	s := startStackIn(t, fastRetryRoot)
	maxDequeue := config.ReadHostQueues(fastRetryRoot).MaxDequeueCount
	// A 500 is transient for Tourniquet but not retried inside the Graph client, so each
	// delivery fails fast.
	s.sim.FailNext(10000, "revokeSignInSessions", 500)
	var run runs.Run
	call(t, s.host, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "steps": []string{"revoke-sessions"}}).json(t, &run)
	s.waitIdle()
	call(t, s.host, "GET", "/api/remediations/"+run.RunID, nil).json(t, &run)
	if run.Status != runs.Failed || run.Steps[0].Status != runs.StepFailed || run.Steps[0].Attempts != maxDequeue {
		t.Fatalf("run %s step %+v, want failed after host.json's %d deliveries", run.Status, run.Steps[0], maxDequeue)
	}
	poison, _ := azqueue.NewQueueClientFromConnectionString(s.storage.ConnectionString, "step-revoke-sessions-poison", nil)
	peek, err := poison.PeekMessages(context.Background(), nil)
	if err != nil || len(peek.Messages) != 1 {
		t.Fatalf("poison queue: %v %+v", err, peek)
	}
}

func TestErrorsAreProblemDocuments(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	h := s.host
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"invalid JSON", "POST", "/api/remediations", []byte(`{"user":`), 400},
		{"unknown field", "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "dry_run": true}, 400},
		{"invalid identifier", "POST", "/api/remediations", map[string]any{"user": "x' or 1 eq 1"}, 400},
		{"unknown step", "POST", "/api/steps/format-disk", map[string]any{"user": s.demo.UPN}, 400},
		{"unknown step in a run", "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "steps": []string{"nope"}}, 400},
		{"body over 1 MiB", "POST", "/api/remediations", []byte(`{"user":"a@b.example","reason":"` + strings.Repeat("x", 1<<20) + `"}`), 413},
		{"unknown user", "POST", "/api/remediations", map[string]any{"user": "nobody@contoso.example"}, 404},
		{"unknown run", "GET", "/api/remediations/20260101t000000-0000000000000000", nil, 404},
		{"protected account", "POST", "/api/remediations", map[string]any{"user": s.demo.BreakGlassUPN}, 403},
	}
	s.sim.ResetRequests()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, h, tt.method, tt.path, tt.body)
			if r.status != tt.status || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("HTTP %d %s %s, want %d problem+json", r.status, r.header.Get("Content-Type"), r.body, tt.status)
			}
			var p map[string]any
			r.json(t, &p)
			if p["status"] != float64(tt.status) || p["title"] == "" || p["code"] == "" {
				t.Fatalf("problem document %v", p)
			}
		})
	}
	for _, req := range s.sim.Requests() {
		if req.Service == "graph" && req.Method != "GET" || req.Service == "exchange" && !strings.HasPrefix(req.Cmdlet, "Get-") {
			t.Fatalf("bad input reached the tenant as a write: %s %s %s", req.Method, req.Path, req.Cmdlet)
		}
	}
}

func TestEasyAuthRequiresTheCallerPrincipal(t *testing.T) {
	t.Parallel()
	s := startStack(t, "AUTH_MODE=easyauth", "WEBSITE_AUTH_ENABLED=True")
	if r := call(t, s.host, "POST", "/api/steps/revoke-sessions", map[string]any{"user": s.demo.UPN}); r.status != 401 {
		t.Fatalf("no principal: %d %s", r.status, r.body)
	}
	if r := call(t, s.host, "GET", "/api/health", nil); r.status != 200 {
		t.Fatalf("health must stay open: %d", r.status)
	}
	// A principal without the Tourniquet.Remediate app role changes nothing.
	readOnly := principal(t, "Tourniquet.Read")
	if r := call(t, s.host, "POST", "/api/steps/revoke-sessions", map[string]any{"user": s.demo.UPN},
		"X-MS-CLIENT-PRINCIPAL-ID", "3f1c0000-0000-4000-8000-000000000001", "X-MS-CLIENT-PRINCIPAL", readOnly); r.status != 403 || s.sim.SessionsRevoked(s.demo.UserID) != 0 {
		t.Fatalf("without the role: %d %s", r.status, r.body)
	}
	r := call(t, s.host, "POST", "/api/steps/revoke-sessions", map[string]any{"user": s.demo.UPN},
		"X-MS-CLIENT-PRINCIPAL-ID", "3f1c0000-0000-4000-8000-000000000001", "X-MS-CLIENT-PRINCIPAL-NAME", "soc-playbook",
		"X-MS-CLIENT-PRINCIPAL", principal(t, "Tourniquet.Remediate"))
	var run runs.Run
	r.json(t, &run)
	if r.status != 200 || run.RequestedBy != "soc-playbook" {
		t.Fatalf("with principal: %d requestedBy %q", r.status, run.RequestedBy)
	}
}

func TestRateLimitHoldsAcrossTwoHandlerProcesses(t *testing.T) {
	t.Parallel()
	s := startStack(t, "MAX_REMEDIATIONS_PER_HOUR=2")
	second := s.startHost("MAX_REMEDIATIONS_PER_HOUR=2")
	statuses := map[int]int{}
	for i, h := range []*hostemu.Host{s.host, second, s.host, second} {
		user := []string{s.demo.UPN, s.demo.ManagerUPN, s.demo.AssistantUPN, s.demo.GlobalAdminUPN}[i]
		r := call(t, h, "POST", "/api/steps/revoke-sessions", map[string]any{"user": user})
		statuses[r.status]++
		if r.status == 429 && r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if statuses[200] != 2 || statuses[429] != 2 {
		t.Fatalf("statuses %v, want two 200 and two 429", statuses)
	}
}

func TestStoreOutageAnswers503AndChangesNothing(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	if err := s.storage.Stop(); err != nil {
		t.Fatal(err)
	}
	// Health caches its answer for up to 5 s (healthTTL): asked until that has passed.
	waitFor(t, 10*time.Second, func() bool { return call(t, s.host, "GET", "/api/health", nil).status == 503 })
	s.sim.ResetRequests()
	if r := call(t, s.host, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "mode": "sync"}); r.status != 503 {
		t.Fatalf("start with the store down: %d %s", r.status, r.body)
	}
	for _, req := range s.sim.Requests() {
		if req.Service == "graph" && req.Method != "GET" || req.Service == "exchange" && !strings.HasPrefix(req.Cmdlet, "Get-") {
			t.Fatalf("the tenant changed without a record: %s %s", req.Method, req.Cmdlet)
		}
	}
}

func TestTimerSweepRecordsAPlannedRunForANewlyRestrictedUser(t *testing.T) {
	t.Parallel()
	s := startStack(t) // SWEEP_MODE defaults to report
	if status, err := s.host.FireTimer(context.Background(), "timer-sweep"); err != nil || status != 200 {
		t.Fatalf("timer: %d %v\n%s", status, err, s.output.String())
	}
	var list []runs.Run
	call(t, s.host, "GET", "/api/remediations?user="+s.demo.UPN, nil).json(t, &list)
	if len(list) != 1 || list[0].Status != runs.Planned || !list[0].DryRun || list[0].RequestedBy != "sweep" {
		t.Fatalf("runs after the sweep: %+v", list)
	}
	var sweeps []runs.SweepRecord
	call(t, s.host, "GET", "/api/sweeps", nil).json(t, &sweeps)
	if len(sweeps) != 1 || sweeps[0].Outcome != "ok" || sweeps[0].Mode != "report" {
		t.Fatalf("sweep records %+v", sweeps)
	}
	if resets := s.sim.PasswordResets(s.demo.UserID); len(resets) != 0 {
		t.Fatal("a report-mode sweep changed the tenant")
	}
}

func TestOneStepQueueRunExhaustingItsRetriesEndsFailedInThePoisonQueue(t *testing.T) {
	t.Parallel()
	s := startStackIn(t, fastRetryRoot)
	s.sim.FailNext(10000, "revokeSignInSessions", 500) // transient, and not retried inside the client: fast deliveries
	q, _ := azqueue.NewQueueClientFromConnectionString(s.storage.ConnectionString, "step-revoke-sessions", nil)
	if _, err := q.EnqueueMessage(context.Background(), `{"user":"`+s.demo.UPN+`"}`, nil); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	var list []runs.Run
	call(t, s.host, "GET", "/api/remediations?user="+s.demo.UPN, nil).json(t, &list)
	if len(list) != 1 || list[0].Status != runs.Failed || list[0].Steps[0].Status != runs.StepFailed || list[0].Error == nil {
		t.Fatalf("one-step run: %+v", list)
	}
	poison, _ := azqueue.NewQueueClientFromConnectionString(s.storage.ConnectionString, "step-revoke-sessions-poison", nil)
	peek, err := poison.PeekMessages(context.Background(), nil)
	if err != nil || len(peek.Messages) != 1 {
		t.Fatalf("poison queue: %v %+v", err, peek)
	}
}

// A remediations message whose user lookup Graph throttles past the client's own retries
// is not failed back to the host (which would deliver it again only after the visibility
// timeout): the start asks again after the Retry-After, and the run starts on the first
// delivery.
func TestQueuedStartWaitsOutAThrottledLookupThroughTheHost(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	// More 429s than one lookup's attempts (the Graph client retries 4 times). Only the
	// user's own lookups: the handler also looks up the protected accounts at its start.
	s.sim.ThrottleNext(graph.DefaultMaxRetries+2, "GET /v1.0/users/"+s.demo.UPN, time.Second)
	rq, err := azqueue.NewQueueClientFromConnectionString(s.storage.ConnectionString, "remediations", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rq.EnqueueMessage(context.Background(), `{"user":"`+s.demo.UPN+`","steps":["remove-forwarding"],"reason":"ticket 31"}`, nil); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	var list []runs.Run
	call(t, s.host, "GET", "/api/remediations?user="+s.demo.UPN, nil).json(t, &list)
	if len(list) != 1 || list[0].Status != runs.Succeeded {
		t.Fatalf("runs of the throttled queued start: %+v\n%s", list, s.output.String())
	}
	out := s.output.String()
	failedStart := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "invocation failed") && strings.Contains(line, `"function":"queue-remediations"`) {
			failedStart = true
		}
	}
	if !strings.Contains(out, "user lookup throttled; the queued start asks again") || failedStart {
		t.Fatalf("the start did not wait out the throttling on its first delivery:\n%s", out)
	}
}
