package remediation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/bench"
	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/identity"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// faultEnv is a service against a simulator that fails requests at random, with client
// timeouts short enough that the "hang" fault ends in a client timeout within seconds.
type faultEnv struct {
	sim     *tenantsim.Sim
	svc     *remediation.Service
	queue   *memQueue
	logs    *syncBuffer
	prefix  string
	victims []bench.Victim
}

func newFaultEnv(t *testing.T, users int) *faultEnv {
	t.Helper()
	// A hang (3 s) outlasts the clients' per-call timeout (2 s): the client gives up and the
	// simulator never serves the request, as when Graph drops it.
	sim := tenantsim.New(tenantsim.Options{PageSize: 100, FaultDelay: 3 * time.Second})
	if _, err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	victims := bench.SeedVictims(sim, users)
	cred, err := identity.NewCredential(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.New(graph.Options{BaseURL: sim.GraphURL(), Credential: cred, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	x, err := exchange.New(exchange.Options{BaseURL: sim.ExchangeURL(), TenantID: sim.TenantID(), Credential: cred, Timeout: 2 * time.Second, MaxRetryWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("F%d%d", time.Now().UnixNano()%1e6, prefixes.Add(1))
	store, err := runs.Open(context.Background(), tableSvc, prefix)
	if err != nil {
		t.Fatal(err)
	}
	logs, q := &syncBuffer{}, &memQueue{}
	svc := &remediation.Service{
		Store: store, Runner: &steps.Runner{Directory: g, Mailboxes: x}, Queue: q,
		Config: remediation.Config{MaxPerHour: 10 * users, MaxDequeueCount: hostQueues.MaxDequeueCount, StepTimeout: 30 * time.Second},
		Log:    slog.New(slog.NewJSONHandler(logs, nil)),
	}
	return &faultEnv{sim: sim, svc: svc, queue: q, logs: logs, prefix: prefix, victims: victims}
}

// startWithRetries starts a run as the remediations queue would: a failed start is
// delivered again (same idempotency key) up to maxDequeueCount times.
func (e *faultEnv) startWithRetries(ctx context.Context, v bench.Victim) (*runs.Run, error) {
	var err error
	for delivery := 1; delivery <= hostQueues.MaxDequeueCount; delivery++ {
		var started *remediation.Started
		started, err = e.svc.Start(ctx, remediation.StartRequest{User: v.UPN, Reason: "fault injection", IdempotencyKey: "faults:" + v.ID, RequestedBy: "queue:remediations"})
		if err == nil {
			return started.Run, nil
		}
	}
	return nil, err
}

// deliverAll plays the host for the step queues: every message is delivered concurrently;
// a failed invocation is delivered again with the next DequeueCount, up to host.json's
// maxDequeueCount, as the host does before it moves a message to the poison queue.
func (e *faultEnv) deliverAll(t *testing.T, ctx context.Context) (poisoned int) {
	type delivery struct {
		queue, runID string
		count        int
	}
	var pending []delivery
	for {
		for _, m := range e.queue.take() {
			pending = append(pending, delivery{m.queue, m.runID, 1})
		}
		if len(pending) == 0 {
			return poisoned
		}
		var (
			mu    sync.Mutex
			again []delivery
			wg    sync.WaitGroup
		)
		for _, d := range pending {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name, _ := catalog.Parse(strings.TrimPrefix(d.queue, "step-"))
				err := e.svc.ExecuteStep(ctx, d.runID, name, remediation.Delivery{Queued: true, DequeueCount: d.count})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
				case d.count >= hostQueues.MaxDequeueCount || errors.Is(err, remediation.ErrGaveUp):
					poisoned++
				default:
					d.count++
					again = append(again, d)
				}
			}()
		}
		wg.Wait()
		pending = again
	}
}

// TestFaultInjectionEveryRunEndsAndEveryChangeIsAppliedOnce remediates many compromised
// users through the step queues while the tenant fails 20% of requests at random (429,
// 500, 503, dropped connections, hangs past the client timeout). 40 users by default,
// 200 with TOURNIQUET_LONG=1.
func TestFaultInjectionEveryRunEndsAndEveryChangeIsAppliedOnce(t *testing.T) {
	t.Parallel()
	users := 40
	if os.Getenv("TOURNIQUET_LONG") == "1" {
		users = 200
	}
	e := newFaultEnv(t, users)
	e.sim.SetFaultRate(0.2, 6)
	ctx := context.Background()

	runIDs := map[string]string{} // victim id -> run id
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, v := range e.victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run, err := e.startWithRetries(ctx, v)
			if err != nil {
				// A start that failed five times never reached the tenant: the message would be
				// poisoned with nothing changed. Say why; the checks below still hold.
				t.Logf("start for %s failed on every delivery: %v", v.UPN, err)
				return
			}
			mu.Lock()
			runIDs[v.ID] = run.RunID
			mu.Unlock()
		}()
	}
	wg.Wait()
	poisoned := e.deliverAll(t, ctx)
	e.sim.SetFaultRate(0, 0)

	log := e.sim.Requests()
	counts := bench.Count(log)
	applied := bench.AppliedWrites(log)
	if dup := bench.Duplicates(applied); len(dup) > 0 {
		t.Fatalf("changes applied more than once: %v", dup)
	}

	recorded := map[string]int{}
	statuses := map[runs.Status]int{}
	for _, v := range e.victims {
		runID, ok := runIDs[v.ID]
		if !ok {
			if n := len(e.sim.PasswordResets(v.ID)); n != 0 {
				t.Errorf("%s: no run recorded but the password was reset %d times", v.UPN, n)
			}
			continue
		}
		run := e.get(t, runID)
		statuses[run.Status]++
		switch run.Status {
		case runs.Succeeded, runs.Failed, runs.ActionRequired:
		default:
			t.Errorf("run %s of %s ended %s, not a final status\n%s", runID, v.UPN, run.Status, dump(run))
		}
		if run.Status == runs.Failed && (run.Error == nil || run.Error.Code == "" || run.Error.Message == "") {
			t.Errorf("failed run %s does not name its cause: %+v", runID, run.Error)
		}
		for _, st := range run.Steps {
			for _, c := range st.Changes {
				recorded[c.Action]++
			}
			if st.Status == runs.StepFailed && (st.Error == nil || st.Error.Code == "" || !strings.HasPrefix(st.Error.Message, st.Name)) {
				t.Errorf("failed step %s of run %s does not name its cause: %+v", st.Name, runID, st.Error)
			}
		}
		resets := len(e.sim.PasswordResets(v.ID))
		if want := map[bool]int{true: 1, false: 0}[run.Step("reset-password").Status == runs.StepSucceeded]; resets != want {
			t.Errorf("%s: password reset %d times, step %s", v.UPN, resets, run.Step("reset-password").Status)
		}
	}

	// Every change the tenant carried out is on record, and nothing on record was not done.
	done := map[string]int{}
	for key, n := range applied {
		switch {
		case strings.HasPrefix(key, "PATCH /v1.0/users/"):
			done["password_reset"] += n
		case strings.HasSuffix(key, "/revokeSignInSessions"):
			done["sessions_revoked"] += n
		case strings.HasPrefix(key, "Set-Mailbox"):
			done["forwarding_removed"] += n
		case strings.HasPrefix(key, "Disable-InboxRule"):
			done["disabled"] += n
		case strings.HasPrefix(key, "DELETE /v1.0/roleManagement/directory/roleAssignments/"):
			done["role_assignment_removed"] += n
		case strings.Contains(key, "roleEligibilityScheduleRequests"):
			done["eligible_assignment_removed"] += n
		case strings.HasSuffix(key, "/$ref"):
			done["group_membership_removed"] += n
		case strings.HasPrefix(key, "Remove-BlockedSenderAddress"):
			done["sender_unblocked"] += n
		default:
			t.Errorf("unexpected write %s", key)
		}
	}
	if fmt.Sprint(done) != fmt.Sprint(recorded) {
		t.Fatalf("tenant writes %v, recorded changes %v", done, recorded)
	}
	if statuses[runs.Succeeded] == 0 {
		t.Fatalf("no run succeeded under 20%% faults: %v", statuses)
	}
	t.Logf("%d users: runs %v, %d messages poisoned, %d Graph + %d Exchange requests (%d answered 429), changes %v",
		users, statuses, poisoned, counts.Graph, counts.Exchange, counts.Throttled, recorded)

	e.assertNoPasswordLeaks(t)
}

func (e *faultEnv) get(t *testing.T, runID string) *runs.Run {
	t.Helper()
	r, err := e.svc.Get(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// assertNoPasswordLeaks looks for every password the simulator accepted in the logs, the
// run documents and every raw entity of the run-record tables.
func (e *faultEnv) assertNoPasswordLeaks(t *testing.T) {
	t.Helper()
	var passwords []string
	for _, v := range e.victims {
		for _, r := range e.sim.PasswordResets(v.ID) {
			passwords = append(passwords, r.Password)
		}
	}
	if len(passwords) == 0 {
		t.Fatal("no password was reset: nothing to look for")
	}
	haystacks := map[string]string{"logs": e.logs.String()}
	for _, v := range e.victims {
		list, err := e.svc.List(context.Background(), v.ID)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := json.Marshal(list)
		haystacks["runs of "+v.UPN] = string(doc)
	}
	for name, raw := range rawTables(t, e.prefix) {
		haystacks["table "+name] = raw
	}
	for where, text := range haystacks {
		for _, p := range passwords {
			if strings.Contains(text, p) {
				t.Fatalf("a generated password appears in %s", where)
			}
		}
	}
}

// rawTables returns every entity of the tables whose names start with prefix, as the
// Table service stores them.
func rawTables(t *testing.T, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	pager := tableSvc.NewListTablesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, tbl := range page.Tables {
			if tbl.Name == nil || !strings.HasPrefix(*tbl.Name, prefix) {
				continue
			}
			var sb strings.Builder
			ep := tableSvc.NewClient(*tbl.Name).NewListEntitiesPager(&aztables.ListEntitiesOptions{})
			for ep.More() {
				p, err := ep.NextPage(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				for _, ent := range p.Entities {
					sb.Write(ent)
					sb.WriteByte('\n')
				}
			}
			out[*tbl.Name] = sb.String()
		}
	}
	if len(out) == 0 {
		t.Fatalf("no tables with prefix %s", prefix)
	}
	return out
}
