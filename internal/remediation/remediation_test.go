package remediation_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

func TestFullSyncRemediationOfACompromisedUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-1", RequestedBy: "test"})

	want := map[string]runs.StepStatus{
		"reset-password": runs.StepSucceeded, "revoke-sessions": runs.StepSucceeded, "remove-forwarding": runs.StepSucceeded,
		"remove-inbox-rules": runs.StepSucceeded, "remove-admin-roles": runs.StepSucceeded, "unblock-sender": runs.StepSucceeded,
	}
	if got := stepStatuses(run); !equalStatuses(got, want) || run.Status != runs.Succeeded {
		t.Fatalf("run %s, steps %v; want succeeded, %v\n%s", run.Status, got, want, dump(run))
	}

	// The tenant: password reset once with a forced change, sessions revoked after it.
	resets := e.sim.PasswordResets(e.demo.UserID)
	if len(resets) != 1 || !resets[0].ForceChange || len(resets[0].Password) < 20 {
		t.Fatalf("password resets: %+v", resets)
	}
	if n := e.sim.SessionsRevoked(e.demo.UserID); n != 1 {
		t.Errorf("sessions revoked %d times, want 1", n)
	}
	mb := e.sim.Mailbox(e.demo.UPN)
	if mb.ForwardingSmtpAddress != "" || mb.ForwardingAddress != "" || mb.DeliverToMailboxAndForward {
		t.Errorf("forwarding left: %+v", mb)
	}
	suspicious := map[string]bool{}
	for _, id := range e.demo.SuspiciousRules {
		suspicious[id] = true
	}
	for _, r := range e.sim.InboxRules(e.demo.UPN) {
		isSystem := strings.HasPrefix(r.Name, "Microsoft.Exchange.OOF.") || r.Name == "Junk E-Mail Rule"
		switch {
		case suspicious[r.Identity] && r.Enabled:
			t.Errorf("suspicious rule %q still enabled", r.Name)
		case !suspicious[r.Identity] && !isSystem && !r.Enabled:
			t.Errorf("benign rule %q was disabled", r.Name)
		case isSystem && !r.Enabled:
			t.Errorf("system rule %q was touched", r.Name)
		}
	}
	if n := len(e.sim.RoleAssignments(e.demo.UserID)) + len(e.sim.EligibleRoles(e.demo.UserID)) + len(e.sim.ActivePIMRoles(e.demo.UserID)); n != 0 {
		t.Errorf("%d role grants left", n)
	}
	for _, m := range e.sim.GroupMembers(e.demo.HelpdeskGroupID) {
		if m == e.demo.UserID {
			t.Error("still in the role-assignable group")
		}
	}
	for _, b := range e.sim.BlockedSenders() {
		if strings.EqualFold(b.SenderAddress, e.demo.UPN) {
			t.Error("still restricted")
		}
	}

	// The record: evidence and reasons for every change, and no password anywhere.
	rules := run.Step("remove-inbox-rules")
	if len(rules.Changes) != len(e.demo.SuspiciousRules) {
		t.Errorf("inbox rule changes %d, want %d", len(rules.Changes), len(e.demo.SuspiciousRules))
	}
	for _, c := range rules.Changes {
		if len(c.Reasons) == 0 || c.Before == nil {
			t.Errorf("change %+v lacks reasons or evidence", c)
		}
	}
	kinds := map[string]bool{}
	for _, c := range run.Step("remove-admin-roles").Changes {
		kinds[c.Action] = true
	}
	for _, k := range []string{"role_assignment_removed", "eligible_assignment_removed", "group_membership_removed"} {
		if !kinds[k] {
			t.Errorf("no %s change recorded: %v", k, kinds)
		}
	}
	doc, _ := json.Marshal(e.get(run.RunID))
	for _, leak := range []string{string(doc), e.logs.String()} {
		if strings.Contains(leak, resets[0].Password) {
			t.Fatal("the new password leaked into the run record or the logs")
		}
	}
}

func TestCleanAccountRunAgainEndsNoChangeExceptResetAndRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync"})
	again := e.start(remediation.StartRequest{User: e.demo.UserID, Mode: "sync"})
	want := map[string]runs.StepStatus{
		"reset-password": runs.StepSucceeded, "revoke-sessions": runs.StepSucceeded, "remove-forwarding": runs.StepNoChange,
		"remove-inbox-rules": runs.StepNoChange, "remove-admin-roles": runs.StepNoChange, "unblock-sender": runs.StepNoChange,
	}
	if got := stepStatuses(again); !equalStatuses(got, want) || again.Status != runs.Succeeded {
		t.Fatalf("second run %s %v, want %v", again.Status, got, want)
	}
	if n := len(e.sim.PasswordResets(e.demo.UserID)); n != 2 {
		t.Errorf("%d password resets, want 2 (reset acts every time)", n)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{MaxPerHour: 1})
	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true})
	if run.Status != runs.Planned {
		t.Fatalf("dry run status %s\n%s", run.Status, dump(run))
	}
	for name, st := range stepStatuses(run) {
		if st != runs.StepPlanned {
			t.Errorf("%s: %s, want planned", name, st)
		}
	}
	if w := writes(e.sim); len(w) > 0 {
		t.Fatalf("a dry run sent writes: %v", w)
	}
	// Dry runs do not count against MAX_REMEDIATIONS_PER_HOUR (1 here).
	e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions"}})
}

func TestSyncedUserNeedsAPersonAndStaysRestricted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.BlockSender(e.demo.SyncedUPN, time.Now().Add(-time.Hour))
	run := e.start(remediation.StartRequest{User: e.demo.SyncedUPN, Mode: "sync"})
	got := stepStatuses(run)
	if got["reset-password"] != runs.StepActionRequired || got["revoke-sessions"] != runs.StepSucceeded || got["unblock-sender"] != runs.StepSkipped || run.Status != runs.ActionRequired {
		t.Fatalf("run %s %v\n%s", run.Status, got, dump(run))
	}
	if msg := run.Step("reset-password").Message; !strings.Contains(msg, "on-premises") {
		t.Errorf("reset message does not say what to do: %q", msg)
	}
	if len(e.sim.PasswordResets(e.demo.SyncedUserID)) != 0 || e.sim.SessionsRevoked(e.demo.SyncedUserID) != 1 {
		t.Error("synced user: want no cloud reset and sessions revoked")
	}
	if len(e.sim.BlockedSenders()) == 0 {
		t.Error("a user whose password is not reset must stay restricted")
	}
}

func TestAsyncRunWithDuplicateConcurrentDeliveriesChangesTheTenantOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Reason: "async"})
	if run.Status != runs.Queued {
		t.Fatalf("async start status %s, want queued", run.Status)
	}
	e.drain(3) // every message delivered three times at once
	final := e.get(run.RunID)
	if final.Status != runs.Succeeded {
		t.Fatalf("run %s\n%s", final.Status, dump(final))
	}
	for _, s := range final.Steps {
		if s.Attempts != 1 {
			t.Errorf("%s attempts %d, want 1", s.Name, s.Attempts)
		}
	}
	if n := len(e.sim.PasswordResets(e.demo.UserID)); n != 1 {
		t.Errorf("%d password resets, want 1", n)
	}
	if n := e.sim.SessionsRevoked(e.demo.UserID); n != 1 {
		t.Errorf("%d session revocations, want 1", n)
	}
	for q, n := range e.queue.sent {
		if n != 1 {
			t.Errorf("%s enqueued %d times, want once", q, n)
		}
	}
	if len(e.queue.sent) != len(catalog.Default) {
		t.Errorf("queues used: %v", e.queue.sent)
	}
}

func TestTransientFailureIsRetriedThenSucceeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"remove-forwarding"}})
	e.queue.take()
	e.sim.FailNext(2, "Set-Mailbox", 503) // the client retries once, then the delivery fails
	ctx := context.Background()
	err := e.svc.ExecuteStep(ctx, run.RunID, steps.RemoveForwarding, remediation.Delivery{Queued: true, DequeueCount: 1})
	if !errors.Is(err, remediation.ErrRetry) {
		t.Fatalf("first delivery: %v, want ErrRetry", err)
	}
	if st := e.get(run.RunID).Step("remove-forwarding"); st.Status != runs.StepPending || st.Error == nil {
		t.Fatalf("after a transient failure: %+v", st)
	}
	if err := e.svc.ExecuteStep(ctx, run.RunID, steps.RemoveForwarding, remediation.Delivery{Queued: true, DequeueCount: 2}); err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	final := e.get(run.RunID)
	st := final.Step("remove-forwarding")
	if st.Status != runs.StepSucceeded || st.Attempts != 2 || len(st.Changes) != 1 || final.Status != runs.Succeeded {
		t.Fatalf("run %s step %+v", final.Status, st)
	}
}

func TestLastDeliveryEndsTheStepAndTheRunFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{MaxDequeueCount: 3})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"remove-forwarding", "unblock-sender"}})
	e.queue.take()
	e.sim.FailNext(1000, "Set-Mailbox", 500)
	ctx := context.Background()
	for n := 1; n <= 3; n++ {
		err := e.svc.ExecuteStep(ctx, run.RunID, steps.RemoveForwarding, remediation.Delivery{Queued: true, DequeueCount: n})
		want := remediation.ErrRetry
		if n == 3 {
			want = remediation.ErrGaveUp // still fails, so the host moves it to the poison queue
		}
		if !errors.Is(err, want) {
			t.Fatalf("delivery %d: %v, want %v", n, err, want)
		}
	}
	e.drain(1) // unblock-sender runs and is skipped
	final := e.get(run.RunID)
	if final.Status != runs.Failed || final.Step("remove-forwarding").Status != runs.StepFailed || final.Step("unblock-sender").Status != runs.StepSkipped || final.Error == nil {
		t.Fatalf("run %s\n%s", final.Status, dump(final))
	}
}

func TestProtectedAccountIsRefusedWithoutWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.svc.Config.Protected = []string{strings.ToUpper(e.demo.BreakGlassUPN)}
	e.sim.ResetRequests()
	_, err := e.svc.Start(context.Background(), remediation.StartRequest{User: e.demo.BreakGlassID, Mode: "sync"})
	if apperr.CodeOf(err) != apperr.Protected {
		t.Fatalf("err %v, want protected", err)
	}
	var refused *remediation.RefusedRun
	if !errors.As(err, &refused) || e.get(refused.Run.RunID).Status != runs.Refused {
		t.Fatalf("no refused run on record: %v", err)
	}
	if w := writes(e.sim); len(w) > 0 {
		t.Fatalf("writes reached the tenant: %v", w)
	}
	// Named as protected: refused even when the directory cannot be read.
	e.sim.FailNext(10, "GET /v1.0/users/", 404)
	if _, err := e.svc.Start(context.Background(), remediation.StartRequest{User: strings.ToLower(e.demo.BreakGlassUPN)}); apperr.CodeOf(err) != apperr.Protected {
		t.Fatalf("by UPN with the lookup failing: %v", err)
	}
	if w := writes(e.sim); len(w) > 0 {
		t.Fatalf("writes reached the tenant: %v", w)
	}
	// The refusal is on record under the identifier the request did not use.
	list, err := e.svc.List(context.Background(), e.demo.BreakGlassUPN)
	if err != nil || len(list) == 0 || list[len(list)-1].Status != runs.Refused {
		t.Fatalf("refused runs listed by UPN: %+v %v", list, err)
	}
}

func TestRateLimitRefusesPastTheHourlyMaximum(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{MaxPerHour: 1})
	e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"revoke-sessions"}, Mode: "sync"})
	_, err := e.svc.Start(context.Background(), remediation.StartRequest{User: e.demo.ManagerUPN, Steps: []string{"revoke-sessions"}, Mode: "sync"})
	ae, _ := apperr.As(err)
	if ae == nil || ae.Code != apperr.RateLimited || ae.RetryAfter <= 0 {
		t.Fatalf("err %v, want rate limited with Retry-After", err)
	}
	if e.sim.SessionsRevoked(e.demo.ManagerID) != 0 {
		t.Fatal("a refused run changed the tenant")
	}
}

func TestIdempotencyKeyReturnsTheFirstRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	first := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", IdempotencyKey: "INC-9"})
	started, err := e.svc.Start(context.Background(), remediation.StartRequest{User: e.demo.UPN, Mode: "sync", IdempotencyKey: "INC-9"})
	if err != nil || !started.Replayed || started.Run.RunID != first.RunID {
		t.Fatalf("replay: %+v %v", started, err)
	}
	if n := len(e.sim.PasswordResets(e.demo.UserID)); n != 1 {
		t.Fatalf("%d resets, want 1", n)
	}
}

func TestLastGlobalAdministratorIsKept(t *testing.T) {
	t.Parallel()
	const soloID = "0a0a0a0a-0000-4000-8000-00000000a0a0"
	e := newEnvSeeded(t, remediation.Config{}, func(sim *tenantsim.Sim) tenantsim.Demo {
		sim.AddAcceptedDomain("solo.example")
		sim.AddUser(tenantsim.User{ID: soloID, UserPrincipalName: "solo@solo.example", DisplayName: "Solo Admin", AccountEnabled: true})
		sim.AssignRole(soloID, steps.GlobalAdministratorTemplateID, "/")
		return tenantsim.Demo{UserID: soloID, UPN: "solo@solo.example"}
	})
	run := e.start(remediation.StartRequest{User: "solo@solo.example", Mode: "sync", Steps: []string{"remove-admin-roles"}})
	st := run.Step("remove-admin-roles")
	if st.Status != runs.StepActionRequired || run.Status != runs.ActionRequired || !strings.Contains(st.Message, "last active Global Administrator") {
		t.Fatalf("run %s step %+v", run.Status, st)
	}
	if len(e.sim.RoleAssignments(soloID)) != 1 {
		t.Fatal("the last Global Administrator assignment was removed")
	}
}

func TestRestoreAdminRolesReGrantsWhatWasRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	beforeDirect := len(e.sim.RoleAssignments(e.demo.UserID))
	beforeEligible := len(e.sim.EligibleRoles(e.demo.UserID))
	// The account is secured in the same run (reset-password and revoke-sessions succeeded).
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions", "remove-admin-roles"}})
	if run.Status != runs.Succeeded || len(e.sim.RoleAssignments(e.demo.UserID)) != 0 {
		t.Fatalf("removal: %s\n%s", run.Status, dump(run))
	}
	ctx := context.Background()
	restored, err := e.svc.RestoreAdminRoles(ctx, remediation.RestoreRequest{RunID: run.RunID, RequestedBy: "admin@contoso.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(e.sim.RoleAssignments(e.demo.UserID)); got != beforeDirect {
		t.Errorf("direct assignments after restore %d, want %d", got, beforeDirect)
	}
	if got := len(e.sim.EligibleRoles(e.demo.UserID)); got != beforeEligible {
		t.Errorf("eligible assignments after restore %d, want %d (eligible stays eligible)", got, beforeEligible)
	}
	member := false
	for _, m := range e.sim.GroupMembers(e.demo.HelpdeskGroupID) {
		member = member || m == e.demo.UserID
	}
	if !member {
		t.Error("group membership not restored")
	}
	for _, it := range restored.Items {
		if it.Result != "restored" {
			t.Errorf("first restore: %s %s (%s)", it.Target, it.Result, it.Problem())
		}
	}
	again, err := e.svc.RestoreAdminRoles(ctx, remediation.RestoreRequest{RunID: run.RunID, RequestedBy: "admin@contoso.example"})
	if err != nil {
		t.Fatal(err)
	}
	last := again.Run.Restorations[len(again.Run.Restorations)-1]
	for _, c := range last.Changes {
		if c.Action != "already_present" {
			t.Errorf("second restore changed %s (%s)", c.Target, c.Action)
		}
	}
	if len(restored.Run.Restorations) != 1 || len(again.Run.Restorations) != 2 || last.Status != "succeeded" || len(last.Items) == 0 {
		t.Errorf("restorations recorded: %d then %d, last %+v", len(restored.Run.Restorations), len(again.Run.Restorations), last)
	}
}

func TestSweepReportsNewlyRestrictedUsersOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{SweepMode: "report", SweepMaxUsers: 10})
	ctx := context.Background()
	rec, err := e.svc.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != "ok" || len(rec.Started) != 1 {
		t.Fatalf("first sweep %+v", rec)
	}
	run := e.get(rec.Started[0])
	if run.Status != runs.Planned || !run.DryRun || run.RequestedBy != "sweep" {
		t.Fatalf("sweep run %s dry=%v by %s", run.Status, run.DryRun, run.RequestedBy)
	}
	again, err := e.svc.Sweep(ctx)
	if err != nil || len(again.Started) != 0 {
		t.Fatalf("second sweep started %v (%v), want none", again.Started, err)
	}
}

// Exchange names a restricted sender by its SMTP address, which need not be the UPN: the
// sweep finds the user by proxy address. A sender no user has is left alone.
func TestSweepFindsARestrictedUserWhoseAddressIsNotItsUPN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{SweepMode: "report", SweepMaxUsers: 10})
	const id = "5e1d0000-0000-4000-8000-00000000f00d"
	e.sim.AddUser(tenantsim.User{ID: id, UserPrincipalName: "qzhou@contoso.onmicrosoft.com", Mail: "Quinn.Zhou@contoso.example", AccountEnabled: true})
	e.sim.BlockSender("quinn.zhou@contoso.example", time.Now().Add(-time.Minute))
	e.sim.BlockSender("nobody@contoso.example", time.Now().Add(-time.Minute))
	e.sim.BlockSender("o'hara@contoso.example", time.Now().Add(-time.Minute))
	rec, err := e.svc.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found *runs.Run
	for _, runID := range rec.Started {
		if r := e.get(runID); r.User.ID == id {
			found = r
		}
	}
	if rec.Outcome != "ok" || found == nil || len(rec.Started) != 2 {
		t.Fatalf("sweep %+v: no run for the user whose address is not its UPN\n%s", rec, e.logs.String())
	}
	if found.User.UserPrincipalName != "qzhou@contoso.onmicrosoft.com" || found.Status != runs.Planned || found.RequestedBy != "sweep" {
		t.Fatalf("run %s for %+v by %s", found.Status, found.User, found.RequestedBy)
	}
	again, err := e.svc.Sweep(context.Background())
	if err != nil || len(again.Started) != 0 {
		t.Fatalf("second sweep started %v (%v), want none", again.Started, err)
	}
}

func TestSweepOverTheLimitRemediatesNone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{SweepMode: "remediate", SweepMaxUsers: 1})
	e.sim.BlockSender(e.demo.ManagerUPN, time.Now())
	rec, err := e.svc.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != "over_limit" || len(rec.Started) != 0 || !strings.Contains(rec.Message, "SWEEP_MAX_USERS") {
		t.Fatalf("sweep %+v", rec)
	}
	list, _ := e.svc.Sweeps(context.Background())
	if len(list) != 1 || list[0].Outcome != "over_limit" {
		t.Fatalf("sweep record %+v", list)
	}
	if !strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Error("no error log line for a tenant-wide incident")
	}
	if len(e.sim.PasswordResets(e.demo.UserID)) != 0 {
		t.Error("a user was remediated")
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.ResetRequests()
	for _, req := range []remediation.StartRequest{
		{User: "not a user"},
		{User: "x@contoso.example' or 1 eq 1"},
		{User: e.demo.UPN, Steps: []string{"format-disk"}},
		{User: e.demo.UPN, Mode: "later"},
		{User: e.demo.UPN, Options: json.RawMessage(`{"inboxRules":{"action":"burn"}}`)},
	} {
		if _, err := e.svc.Start(context.Background(), req); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("%+v: %v, want invalid", req, err)
		}
	}
	if n := len(e.sim.Requests()); n != 0 {
		t.Fatalf("%d requests reached the tenant for bad input", n)
	}
	if _, err := e.svc.Start(context.Background(), remediation.StartRequest{User: "nobody@contoso.example"}); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("unknown user: %v, want not found", err)
	}
}

func equalStatuses(a, b map[string]runs.StepStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func dump(r *runs.Run) string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}

func TestResetRefusedForAnAdminNamesTheMissingRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.SetCanResetAdmins(false)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions"}})
	reset := run.Step("reset-password")
	if reset.Status != runs.StepFailed || reset.Error == nil || !strings.Contains(reset.Error.Message, "Privileged Authentication Administrator") {
		t.Fatalf("reset step %+v", reset)
	}
	if run.Step("revoke-sessions").Status != runs.StepSucceeded || run.Status != runs.Failed {
		t.Fatalf("revoke must run whatever the reset's outcome; run %s", run.Status)
	}
}

func TestInboxRulesDeleteEveryNonSystemRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-inbox-rules"},
		Options: json.RawMessage(`{"inboxRules":{"action":"delete","scope":"all"}}`)})
	if run.Status != runs.Succeeded {
		t.Fatalf("run %s\n%s", run.Status, dump(run))
	}
	left := e.sim.InboxRules(e.demo.UPN)
	if len(left) != len(e.demo.SystemRules) {
		t.Fatalf("%d rules left, want only the %d system rules", len(left), len(e.demo.SystemRules))
	}
	if n := len(run.Step("remove-inbox-rules").Changes); n != len(e.demo.SuspiciousRules)+len(e.demo.BenignRules) {
		t.Fatalf("%d changes recorded", n)
	}
}

func TestThrottledTenantStillCompletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.ThrottleNext(1, "PATCH", 0)
	e.sim.ThrottleNext(1, "Set-Mailbox", 0)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "remove-forwarding"}})
	if run.Status != runs.Succeeded {
		t.Fatalf("run %s\n%s", run.Status, dump(run))
	}
	resets := e.sim.PasswordResets(e.demo.UserID)
	if len(resets) != 1 || resets[0].Password == "" {
		t.Fatalf("the PATCH retried after 429 lost its body: %+v", resets)
	}
}

func TestUnblockSenderOnAUserWhoIsNotRestricted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.ManagerUPN, Mode: "sync", Steps: []string{"unblock-sender"}})
	if st := run.Step("unblock-sender"); st.Status != runs.StepNoChange || run.Status != runs.Succeeded {
		t.Fatalf("run %s step %+v", run.Status, st)
	}
}

func TestSweepInRemediateModeStartsAFullRunOncePerBlock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{SweepMode: "remediate", SweepMaxUsers: 10})
	ctx := context.Background()
	rec, err := e.svc.Sweep(ctx)
	if err != nil || rec.Outcome != "ok" || len(rec.Started) != 1 {
		t.Fatalf("sweep %+v %v", rec, err)
	}
	e.drain(1)
	run := e.get(rec.Started[0])
	if run.Status != runs.Succeeded || run.DryRun || run.RequestedBy != "sweep" || !strings.HasPrefix(run.IdempotencyKey, "sweep:") {
		t.Fatalf("sweep run %s dry=%v by %s key %q\n%s", run.Status, run.DryRun, run.RequestedBy, run.IdempotencyKey, dump(run))
	}
	// The block is gone now; blocked again later (a new creation time) is a new incident.
	e.sim.BlockSender(e.demo.UPN, time.Now().Add(time.Minute))
	again, err := e.svc.Sweep(ctx)
	if err != nil || len(again.Started) != 1 || again.Started[0] == run.RunID {
		t.Fatalf("sweep after a new block %+v %v", again, err)
	}
}

func TestInboxRulesFallBackWhenExchangeCannotListAcceptedDomains(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.FailNext(1000, "Get-AcceptedDomain", 400)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-inbox-rules"}})
	if run.Status != runs.Succeeded || len(run.Step("remove-inbox-rules").Changes) != len(e.demo.SuspiciousRules) {
		t.Fatalf("run %s\n%s", run.Status, dump(run))
	}
}

func TestSweepHoldsBackAtTheRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{SweepMode: "remediate", SweepMaxUsers: 10, MaxPerHour: 1})
	e.start(remediation.StartRequest{User: e.demo.ManagerUPN, Mode: "sync", Steps: []string{"revoke-sessions"}}) // uses the hour's only slot
	rec, err := e.svc.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != "rate_limited" || len(e.sim.PasswordResets(e.demo.UserID)) != 0 {
		t.Fatalf("sweep %+v", rec)
	}
	// Held back, not marked handled: the next sweep (in a new window) tries again.
	again, err := e.svc.Sweep(context.Background())
	if err != nil || again.Outcome != "rate_limited" {
		t.Fatalf("second sweep %+v %v", again, err)
	}
}

func TestRecoverFinishesARunWhoseProcessDied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	created := time.Now().UTC().Add(-time.Hour)
	// A sync run whose process died while reset-password was running: no message exists.
	stuck := &runs.Run{
		RunID: "20260101t000000-00000000000000aa", Status: runs.Running, Mode: "sync", CreatedAt: created,
		User: runs.UserRef{ID: e.demo.UserID, UserPrincipalName: e.demo.UPN, Mail: e.demo.UPN},
		Steps: []runs.Step{
			{Name: "reset-password", Status: runs.StepRunning, Attempts: 1, StartedAt: &created, LeaseUntil: created.Add(3 * time.Minute)},
			{Name: "revoke-sessions", Status: runs.StepPending},
			{Name: "remove-forwarding", Status: runs.StepPending},
		},
	}
	if err := e.svc.Store.Create(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.Recover(ctx)
	if err != nil || n != 1 {
		t.Fatalf("recovered %d: %v", n, err)
	}
	e.drain(1)
	run := e.get(stuck.RunID)
	if run.Status != runs.Succeeded || run.Step("reset-password").Attempts != 2 || run.Mode != "async" {
		t.Fatalf("run %s mode %s\n%s", run.Status, run.Mode, dump(run))
	}
	if n, _ := e.svc.Recover(ctx); n != 0 {
		t.Fatalf("a finished run was recovered again (%d)", n)
	}
}

func TestARunWhoseStepsCouldNotBeEnqueuedIsSentOnReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	e.queue.fail.Store(true)
	first, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.UPN, IdempotencyKey: "queue:remediations:m1"})
	if err != nil || first.Unsent == nil || first.Run.Status != runs.Queued {
		t.Fatalf("start with the queue down: %+v %v", first, err)
	}
	e.queue.fail.Store(false)
	again, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.UPN, IdempotencyKey: "queue:remediations:m1"})
	if err != nil || !again.Replayed || again.Unsent != nil || again.Run.RunID != first.Run.RunID {
		t.Fatalf("replay: %+v %v", again, err)
	}
	e.drain(1)
	if run := e.get(first.Run.RunID); run.Status != runs.Succeeded {
		t.Fatalf("run %s\n%s", run.Status, dump(run))
	}
}

func TestSyncRunFinishesWhenTheCallerHangsUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	e.sim.ThrottleNext(1, "Set-Mailbox", time.Second) // keeps remove-forwarding busy for a second
	go func() {
		// The caller's HTTP connection closes mid-run: once the steps are changing the tenant.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			for _, r := range e.sim.Requests() {
				if r.Cmdlet == "Set-Mailbox" {
					cancel()
					return
				}
			}
		}
		cancel()
	}()
	started, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.UPN, Mode: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	if run := e.get(started.Run.RunID); run.Status != runs.Succeeded {
		t.Fatalf("run %s after the caller hung up\n%s", run.Status, dump(run))
	}
}
