package remediation_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// A key binds the request that claimed it: a dry run with INC-1 followed by the real run
// with INC-1 must not answer the dry run (which changed nothing) as if it were the real one.
func TestIdempotencyKeyReusedForADifferentRequestIs409(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	dry := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true, IdempotencyKey: "INC-1"})
	if dry.Status != runs.Planned {
		t.Fatalf("dry run %s", dry.Status)
	}
	for name, req := range map[string]remediation.StartRequest{
		"the real run":      {User: e.demo.UPN, Mode: "sync", IdempotencyKey: "INC-1"},
		"another user":      {User: e.demo.ManagerUPN, Mode: "sync", DryRun: true, IdempotencyKey: "INC-1"},
		"other steps":       {User: e.demo.UPN, Mode: "sync", DryRun: true, Steps: []string{"revoke-sessions"}, IdempotencyKey: "INC-1"},
		"other options":     {User: e.demo.UPN, Mode: "sync", DryRun: true, Options: []byte(`{"inboxRules":{"action":"delete"}}`), IdempotencyKey: "INC-1"},
		"async, real, same": {User: e.demo.UPN, IdempotencyKey: "INC-1"},
	} {
		started, err := e.svc.Start(ctx, req)
		if apperr.CodeOf(err) != apperr.KeyReused {
			t.Fatalf("%s: %+v %v, want idempotency_key_reused", name, started, err)
		}
	}
	if n := len(e.sim.PasswordResets(e.demo.UserID)); n != 0 || len(writes(e.sim)) != 0 {
		t.Fatalf("a refused reuse changed the tenant: %d resets, writes %v", n, writes(e.sim))
	}
	if list, _ := e.svc.List(ctx, e.demo.UPN); len(list) != 1 {
		t.Fatalf("%d runs for the user, want only the dry run", len(list))
	}
	// The same request, spelled differently (object id for UPN, steps named in another order,
	// options {} for none), is the same request: the first run again.
	started, err := e.svc.Start(ctx, remediation.StartRequest{User: strings.ToUpper(e.demo.UserID), Mode: "async", DryRun: true, Options: []byte(`{}`), IdempotencyKey: "INC-1",
		Steps: []string{"unblock-sender", "remove-admin-roles", "remove-inbox-rules", "remove-forwarding", "revoke-sessions", "reset-password"}})
	if err != nil || !started.Replayed || started.Run.RunID != dry.RunID {
		t.Fatalf("same request again: %+v %v", started, err)
	}
}

// A concurrent claim of the same key by a different request is refused too (the key is
// claimed after the user is resolved, not only looked up before).
func TestIdempotencyKeyClaimedByADifferentRequestIs409(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	// A holder that claimed the key but has not recorded its run yet.
	if _, _, err := e.svc.Store.ClaimKey(ctx, "run", "INC-2", runs.KeyHolder{RunID: "20260101t000000-00000000000000cd", Fingerprint: "another request"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.UPN, Mode: "sync", IdempotencyKey: "INC-2"}); apperr.CodeOf(err) != apperr.KeyReused {
		t.Fatalf("err %v, want idempotency_key_reused", err)
	}
	if n := len(e.sim.PasswordResets(e.demo.UserID)); n != 0 {
		t.Fatalf("%d resets", n)
	}
}

func TestOptionsAreStoredAsParsedAndCapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true, Steps: []string{"remove-inbox-rules"},
		Options: []byte(" {\n \"inboxRules\" : { \"action\" : \"delete\" } }")})
	if got := string(run.Options); got != `{"inboxRules":{"action":"delete"}}` {
		t.Fatalf("stored options %s, want them re-marshalled", got)
	}
	for name, opts := range map[string]string{
		"over 16 KiB":              `{"inboxRules":{"action":"delete"}}` + strings.Repeat(" ", 16<<10),
		"a name in the wrong case": `{"inboxRules":{"Action":"delete"}}`,
		"a name twice":             `{"inboxRules":{"action":"disable","action":"delete"}}`,
	} {
		if _, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Options: []byte(opts)}); apperr.CodeOf(err) != apperr.Invalid {
			t.Fatalf("%s: %v, want invalid_request", name, err)
		}
	}
	if w := writes(e.sim); len(w) > 0 {
		t.Fatalf("refused options changed the tenant: %v", w)
	}
}

// Dry runs do not count against MAX_REMEDIATIONS_PER_HOUR but have a budget of their own, so
// a caller looping on dry runs cannot throttle the identity; past it nothing reads the
// directory and nothing is recorded.
func TestDryRunsHaveABudgetOfTheirOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{MaxPerHour: 1, MaxRequests: 3})
	ctx := context.Background()
	// Four callers, so each stays within its share (half the budget) and the budget itself is
	// what refuses.
	for _, by := range []string{"alice", "bob"} {
		e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true, Steps: []string{"remove-forwarding"}, RequestedBy: by})
	}
	e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions"}, RequestedBy: "carol"}) // the hour's real run
	e.sim.ResetRequests()
	_, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true, Steps: []string{"remove-forwarding"}, RequestedBy: "dave"})
	ae, _ := apperr.As(err)
	if ae == nil || ae.Code != apperr.RateLimited || ae.RetryAfter <= 0 {
		t.Fatalf("err %v, want rate limited with Retry-After", err)
	}
	var refused *remediation.RefusedRun
	if errors.As(err, &refused) {
		t.Fatal("a request past the budget was recorded")
	}
	if reqs := e.sim.Requests(); len(reqs) != 0 {
		t.Fatalf("a request past the budget reached the tenant: %d requests", len(reqs))
	}
	if list, _ := e.svc.List(ctx, e.demo.UPN); len(list) != 3 {
		t.Fatalf("%d runs recorded, want 3", len(list))
	}
}

// Each caller has its own share of the request budget (half of it): caller A exhausting its
// share is refused, and caller B still gets through; A's refusals take nothing from the
// budget. The share's key is a hash, so any requestedBy makes a valid Table key.
func TestOneCallerCannotExhaustTheRequestBudgetOfOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{MaxPerHour: 1, MaxRequests: 4})
	ctx := context.Background()
	dry := func(by string) error {
		_, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true, Steps: []string{"remove-forwarding"}, RequestedBy: by})
		return err
	}
	const a = "functionkey:0123456789ab"
	b := "Playbook/Contoso #1? \\x\x01" // characters no Table key may hold
	for i := 0; i < 2; i++ {
		if err := dry(a); err != nil {
			t.Fatalf("caller A, request %d: %v", i+1, err)
		}
	}
	for i := 0; i < 3; i++ {
		err := dry(a)
		if ae, _ := apperr.As(err); ae == nil || ae.Code != apperr.RateLimited || ae.RetryAfter <= 0 || !strings.Contains(ae.Error(), "from this caller") {
			t.Fatalf("caller A past its share: %v, want rate limited for this caller", err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := dry(b); err != nil {
			t.Fatalf("caller B, request %d, after A used up its share: %v", i+1, err)
		}
	}
	// The budget itself is used up now (2 + 2): a third caller is refused by it.
	if err := dry("sweep"); apperr.CodeOf(err) != apperr.RateLimited || strings.Contains(err.Error(), "from this caller") {
		t.Fatalf("a third caller once the budget is used up: %v", err)
	}
	if list, _ := e.svc.List(ctx, e.demo.UPN); len(list) != 4 {
		t.Fatalf("%d runs recorded, want 4", len(list))
	}
}

// failingBatches fails every Table transaction: Create cannot record a run, while every
// other store call (the rate-limit counters included) still works.
type failingBatches struct{ next policy.Transporter }

func (f failingBatches) Do(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "$batch") {
		return nil, fmt.Errorf("injected: transaction lost")
	}
	return f.next.Do(req)
}

// A run that cannot be recorded gives its slot of the hourly limit back: an outage while
// recording must not use up MAX_REMEDIATIONS_PER_HOUR for runs that never happened.
func TestSlotIsGivenBackWhenTheRunCannotBeRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{MaxPerHour: 1})
	ctx := context.Background()
	prefix := fmt.Sprintf("G%d%d", time.Now().UnixNano()%1e6, prefixes.Add(1))
	good, err := runs.Open(ctx, tableSvc, prefix)
	if err != nil {
		t.Fatal(err)
	}
	broken, err := aztables.NewServiceClientFromConnectionString(azuriteConn, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: failingBatches{next: http.DefaultClient}, Retry: policy.RetryOptions{MaxRetries: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Store = runs.New(broken, prefix)
	if _, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions"}}); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err %v, want store_unavailable", err)
	}
	if n := e.sim.SessionsRevoked(e.demo.UserID); n != 0 {
		t.Fatal("an unrecorded run changed the tenant")
	}
	e.svc.Store = good
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions"}})
	if run.Status != runs.Succeeded {
		t.Fatalf("run %s", run.Status)
	}
}
