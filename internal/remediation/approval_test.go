package remediation_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// tenantState is everything a remediation of the demo users could change, read from the
// simulator itself: equal before and after means nothing in the tenant changed.
func tenantState(t *testing.T, sim *tenantsim.Sim, d tenantsim.Demo) string {
	t.Helper()
	state := map[string]any{}
	for _, u := range []struct{ id, upn string }{{d.UserID, d.UPN}, {d.ManagerID, d.ManagerUPN}, {d.AssistantID, d.AssistantUPN}} {
		user, _ := sim.User(u.id)
		state[u.upn] = map[string]any{
			"user": user, "resets": len(sim.PasswordResets(u.id)), "revoked": sim.SessionsRevoked(u.id),
			"mailbox": sim.Mailbox(u.upn), "rules": sim.InboxRules(u.upn),
			"roles": sim.RoleAssignments(u.id), "eligible": sim.EligibleRoles(u.id), "active": sim.ActivePIMRoles(u.id),
		}
	}
	state["helpdesk"] = sim.GroupMembers(d.HelpdeskGroupID)
	state["blocked"] = sim.BlockedSenders()
	out, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// clock is a settable time for the service.
type clock struct{ nanos atomic.Int64 }

func newClock() *clock                   { c := &clock{}; c.nanos.Store(time.Now().UnixNano()); return c }
func (c *clock) now() time.Time          { return time.Unix(0, c.nanos.Load()) }
func (c *clock) advance(d time.Duration) { c.nanos.Add(int64(d)) }

func approver(name string) remediation.Principal {
	return remediation.Principal{ID: "00000000-0000-4000-8000-" + strings.Repeat("b", 12), Name: name, Checked: true}
}

func (e *env) decide(runID string, approve bool, by remediation.Principal, reason string) (*runs.Run, error) {
	return e.svc.Decide(context.Background(), remediation.DecideRequest{RunID: runID, Approve: approve, Reason: reason, By: by})
}

// assertWaiting checks a run that waits: status, approval, steps pending, nothing sent to
// the queues, nothing changed in the tenant since before.
func (e *env) assertWaiting(run *runs.Run, before string) {
	e.t.Helper()
	if run.Status != runs.AwaitingApproval || !run.Approval.Required || run.Approval.Decision != "" || run.Approval.ExpiresAt == nil {
		e.t.Fatalf("run %s approval %+v, want awaiting_approval, required, undecided, with a deadline", run.Status, run.Approval)
	}
	for _, st := range run.Steps {
		if st.Status != runs.StepPending || st.Attempts != 0 {
			e.t.Errorf("step %s %s after %d attempts, want pending and untouched", st.Name, st.Status, st.Attempts)
		}
	}
	if msgs := e.queue.take(); len(msgs) != 0 {
		e.t.Errorf("a waiting run sent %v", msgs)
	}
	if w := writes(e.sim); len(w) != 0 {
		e.t.Errorf("a waiting run wrote to the tenant: %v", w)
	}
	if after := tenantState(e.t, e.sim, e.demo); after != before {
		e.t.Errorf("the tenant changed while the run waited (simulator state differs; requests %v)", e.sim.Requests())
	}
}

func TestApprovalAllWaitsThenApprovalSendsTheRunThroughTheQueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAll})
	before := tenantState(t, e.sim, e.demo)
	for _, mode := range []string{"async", "sync"} {
		run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: mode, Reason: "INC-7", RequestedBy: "alice@contoso.example", RequesterID: "00000000-0000-4000-8000-aaaaaaaaaaaa"})
		e.assertWaiting(run, before)
		if run.Mode != "async" || !strings.Contains(run.Approval.Why, "APPROVAL_MODE=all") {
			t.Errorf("%s: mode %s why %q", mode, run.Mode, run.Approval.Why)
		}
		// A step message for the waiting run (sent by hand, or stale) is dropped.
		if err := e.svc.ExecuteStep(context.Background(), run.RunID, "reset-password", remediation.Delivery{Queued: true, DequeueCount: 1}); err != nil {
			t.Fatal(err)
		}
		e.assertWaiting(e.get(run.RunID), before)
		// Reads stay possible.
		if list, err := e.svc.List(context.Background(), e.demo.UPN); err != nil || len(list) == 0 || list[0].Status != runs.AwaitingApproval {
			t.Fatalf("list while waiting: %v", err)
		}
		// The same request again (its idempotency key) answers the waiting run and sends nothing.
		again, err := e.svc.Start(context.Background(), remediation.StartRequest{User: e.demo.UPN, Mode: mode, Reason: "INC-7", IdempotencyKey: "INC-7-" + mode})
		if err != nil {
			t.Fatal(err)
		}
		replay, err := e.svc.Start(context.Background(), remediation.StartRequest{User: e.demo.UserID, Mode: mode, IdempotencyKey: "INC-7-" + mode})
		if err != nil || !replay.Replayed || replay.Run.RunID != again.Run.RunID {
			t.Fatalf("replay of a waiting run: %+v %v", replay, err)
		}
		e.assertWaiting(replay.Run, before)
		if mode == "sync" {
			continue
		}
		approved, err := e.decide(run.RunID, true, approver("bob@contoso.example"), "checked with the user's manager")
		if err != nil {
			t.Fatal(err)
		}
		if approved.Status != runs.Queued || approved.Approval.Decision != runs.Approved || approved.Approval.DecidedBy != "bob@contoso.example" ||
			approved.Approval.Reason != "checked with the user's manager" || approved.Approval.DecidedAt == nil {
			t.Fatalf("after approve: %s %+v", approved.Status, approved.Approval)
		}
		e.drain(2)
		done := e.get(run.RunID)
		if done.Status != runs.Succeeded || len(e.sim.PasswordResets(e.demo.UserID)) != 1 || e.sim.Mailbox(e.demo.UPN).ForwardingSmtpAddress != "" {
			t.Fatalf("approved run ended %s (%v), resets %d", done.Status, stepStatuses(done), len(e.sim.PasswordResets(e.demo.UserID)))
		}
		if done.Approval.Decision != runs.Approved || done.Approval.DecidedBy != "bob@contoso.example" {
			t.Errorf("the finished run lost its approval: %+v", done.Approval)
		}
		// A second decision is refused, and says who decided.
		if _, err := e.decide(run.RunID, true, approver("carol@contoso.example"), ""); apperr.CodeOf(err) != apperr.NotAwaiting || !strings.Contains(err.Error(), "bob@contoso.example") {
			t.Fatalf("approve again: %v, want not_awaiting_approval naming bob", err)
		}
		before = tenantState(t, e.sim, e.demo)
		e.sim.ResetRequests()
	}
	// Dry runs never wait, and a run of read-only steps changes nothing either.
	dry := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true})
	if dry.Status != runs.Planned || dry.Approval.Required {
		t.Fatalf("dry run %s approval %+v", dry.Status, dry.Approval)
	}
	look := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "async", Steps: []string{"investigate"}})
	if look.Status == runs.AwaitingApproval || look.Approval.Required {
		t.Fatalf("a read-only run waits: %s", look.Status)
	}
}

func TestApprovalAdminsWaitsForUsersHoldingRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAdmins})
	// A user whose only role is PIM-eligible, one holding a role only through a group, and
	// one holding none.
	eligibleOnly := "0e11e000-0000-4000-8000-000000000001"
	e.sim.AddUser(tenantsim.User{ID: eligibleOnly, UserPrincipalName: "pat.eligible@contoso.example", AccountEnabled: true})
	e.sim.AddEligibleRole(eligibleOnly, tenantsim.RoleSecurityAdministrator, "/")
	// And one whose only admin right is an Exchange role group.
	exchangeOnly := "0e11e000-0000-4000-8000-000000000002"
	e.sim.AddUser(tenantsim.User{ID: exchangeOnly, UserPrincipalName: "rex.recipients@contoso.example", AccountEnabled: true})
	if !e.sim.AddRoleGroupMember("Recipient Management", exchangeOnly) {
		t.Fatal("the simulator has no Recipient Management role group")
	}
	before := tenantState(t, e.sim, e.demo)
	for _, tt := range []struct {
		user string
		why  []string
	}{
		{e.demo.UPN, []string{"Exchange Administrator", "Contoso Mail Auditor", "Security Administrator (PIM eligible)", "through group Tier1 Helpdesk Admins"}},
		{e.demo.ManagerUPN, []string{"User Administrator (through group Tier1 Helpdesk Admins)"}},
		{"pat.eligible@contoso.example", []string{"Security Administrator (PIM eligible)"}},
		{"rex.recipients@contoso.example", []string{"Exchange role groups: Recipient Management"}},
	} {
		run := e.start(remediation.StartRequest{User: tt.user, Mode: "sync", RequestedBy: "alice"})
		e.assertWaiting(run, before)
		for _, w := range tt.why {
			if !strings.Contains(run.Approval.Why, w) {
				t.Errorf("%s: why %q does not name %q", tt.user, run.Approval.Why, w)
			}
		}
	}
	// No role: the run goes at once.
	plain := e.start(remediation.StartRequest{User: e.demo.AssistantUPN, Mode: "sync"})
	if plain.Status != runs.Succeeded || plain.Approval.Required {
		t.Fatalf("run for a user without roles: %s %+v", plain.Status, plain.Approval)
	}
	// Roles that cannot be read: the run waits, and says why.
	e.sim.FailNext(5, "roleAssignments", 403)
	unsure := e.start(remediation.StartRequest{User: e.demo.AssistantUPN, Mode: "async"})
	if unsure.Status != runs.AwaitingApproval || !strings.Contains(unsure.Approval.Why, "could not be read") {
		t.Fatalf("roles unreadable: %s %q, want awaiting_approval saying so", unsure.Status, unsure.Approval.Why)
	}
}

// A user whose directory roles read empty but whose eligible group memberships (PIM for
// Groups) cannot be read may hold a role through one: under APPROVAL_MODE=admins the run
// waits (fail closed), and approval.why says what could not be read.
func TestApprovalAdminsWaitsWhenPIMForGroupsCannotBeRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAdmins})
	before := tenantState(t, e.sim, e.demo)
	e.sim.FailNext(1, "privilegedAccess/group/eligibilitySchedules", 403)
	run := e.start(remediation.StartRequest{User: e.demo.AssistantUPN, Mode: "sync", RequestedBy: "alice"})
	if run.Status != runs.AwaitingApproval || !run.Approval.Required || !strings.Contains(run.Approval.Why, "PIM for Groups") || !strings.Contains(run.Approval.Why, "could not be read") {
		t.Fatalf("PIM for Groups unreadable: %s %+v, want awaiting_approval saying so", run.Status, run.Approval)
	}
	e.assertWaiting(run, before)
	// Readable again: the same user's run goes at once.
	plain := e.start(remediation.StartRequest{User: e.demo.AssistantUPN, Mode: "sync", RequestedBy: "alice", Steps: []string{"revoke-sessions"}})
	if plain.Status != runs.Succeeded || plain.Approval.Required {
		t.Fatalf("run once PIM for Groups reads: %s %+v", plain.Status, plain.Approval)
	}
}

func TestApprovalRejectEndsTheRunRejectedWithNothingChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAll})
	before := tenantState(t, e.sim, e.demo)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, RequestedBy: "alice"})
	rejected, err := e.decide(run.RunID, false, approver("bob"), "false positive: the user was travelling")
	if err != nil {
		t.Fatal(err)
	}
	if rejected.Status != runs.Rejected || rejected.FinishedAt == nil || rejected.Approval.Decision != runs.DecisionRejected || rejected.Approval.Reason != "false positive: the user was travelling" {
		t.Fatalf("rejected run: %s %+v", rejected.Status, rejected.Approval)
	}
	for _, st := range rejected.Steps {
		if st.Status != runs.StepSkipped || !strings.Contains(st.Message, "rejected by bob") {
			t.Errorf("step %s %s %q, want skipped saying who rejected", st.Name, st.Status, st.Message)
		}
	}
	if err := e.svc.ExecuteStep(context.Background(), run.RunID, "reset-password", remediation.Delivery{Queued: true, DequeueCount: 1}); err != nil {
		t.Fatal(err)
	}
	e.drain(1)
	if after := tenantState(t, e.sim, e.demo); after != before || len(writes(e.sim)) != 0 {
		t.Fatalf("a rejected run changed the tenant: %v", writes(e.sim))
	}
	for _, approve := range []bool{true, false} {
		if _, err := e.decide(run.RunID, approve, approver("carol"), ""); apperr.CodeOf(err) != apperr.NotAwaiting {
			t.Errorf("decide a rejected run (approve %v): %v, want not_awaiting_approval", approve, err)
		}
	}
	// A run that never needed approval cannot be decided either.
	e.svc.Config.ApprovalMode = remediation.ApprovalNone
	plain := e.start(remediation.StartRequest{User: e.demo.AssistantUPN, Mode: "sync"})
	if _, err := e.decide(plain.RunID, true, approver("carol"), ""); apperr.CodeOf(err) != apperr.NotAwaiting {
		t.Errorf("approve a run that needed no approval: %v", err)
	}
	if _, err := e.decide("20990101t000000-0000000000000000", true, approver("carol"), ""); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("approve an unknown run: %v", err)
	}
}

func TestApprovalExpiresAfterTheTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAll, ApprovalTimeout: 10 * time.Minute})
	clk := newClock()
	e.svc.Now = clk.now
	before := tenantState(t, e.sim, e.demo)
	first := e.start(remediation.StartRequest{User: e.demo.UPN, RequestedBy: "alice"})
	clk.advance(5 * time.Minute)
	second := e.start(remediation.StartRequest{User: e.demo.ManagerUPN, RequestedBy: "alice"})
	clk.advance(6 * time.Minute) // first is past its window, second is not

	n, err := e.svc.ExpireApprovals(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("ExpireApprovals = %d, %v; want 1", n, err)
	}
	got := e.get(first.RunID)
	if got.Status != runs.Expired || got.Approval.Decision != runs.DecisionExpired || got.Approval.DecidedBy != "" || got.FinishedAt == nil {
		t.Fatalf("first run: %s %+v", got.Status, got.Approval)
	}
	for _, st := range got.Steps {
		if st.Status != runs.StepSkipped {
			t.Errorf("step %s of an expired run %s", st.Name, st.Status)
		}
	}
	if s := e.get(second.RunID); s.Status != runs.AwaitingApproval {
		t.Fatalf("second run %s before its deadline", s.Status)
	}
	if _, err := e.decide(first.RunID, true, approver("bob"), ""); apperr.CodeOf(err) != apperr.NotAwaiting || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("approve an expired run: %v", err)
	}
	// Past its window, a run reads as expired and cannot be approved, even before the
	// timer comes by.
	clk.advance(5 * time.Minute)
	if _, err := e.decide(second.RunID, true, approver("bob"), ""); apperr.CodeOf(err) != apperr.NotAwaiting {
		t.Fatalf("approve after the window: %v", err)
	}
	if s := e.get(second.RunID); s.Status != runs.Expired {
		t.Fatalf("second run %s after its deadline", s.Status)
	}
	if n, err := e.svc.ExpireApprovals(context.Background()); err != nil || n != 0 {
		t.Fatalf("nothing left to expire: %d %v", n, err)
	}
	if due, err := e.svc.Store.AwaitingDue(context.Background(), clk.now().Add(time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("index entries left behind: %v %v", due, err)
	}
	e.drain(1)
	if after := tenantState(t, e.sim, e.demo); after != before {
		t.Fatal("expired runs changed the tenant")
	}
}

func TestApprovalApproverMustNotBeTheRequester(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAll})
	aliceID := "00000000-0000-4000-8000-aaaaaaaaaaaa"
	run := e.start(remediation.StartRequest{User: e.demo.UPN, RequestedBy: "alice@contoso.example", RequesterID: aliceID})
	for name, by := range map[string]remediation.Principal{
		"same id":                  {ID: aliceID, Name: "someone else", Checked: true},
		"same id, other case":      {ID: strings.ToUpper(aliceID), Name: "x", Checked: true},
		"same principal to reject": {ID: aliceID, Name: "alice@contoso.example", Checked: true},
	} {
		for _, approve := range []bool{true, false} {
			if _, err := e.decide(run.RunID, approve, by, ""); apperr.CodeOf(err) != apperr.SamePrincipal {
				t.Errorf("%s (approve %v): %v, want same_principal", name, approve, err)
			}
		}
	}
	if got := e.get(run.RunID); got.Status != runs.AwaitingApproval {
		t.Fatalf("a refused decision changed the run: %s", got.Status)
	}
	// A run recorded without the requester's id (a queue message, a function key) is
	// compared by name; with both ids known, the ids decide (two people may share a name).
	nameOnly := e.start(remediation.StartRequest{User: e.demo.AssistantUPN, RequestedBy: "alice@contoso.example"})
	if _, err := e.decide(nameOnly.RunID, true, remediation.Principal{ID: "00000000-0000-4000-8000-cccccccccccc", Name: "Alice@Contoso.example", Checked: true}, ""); apperr.CodeOf(err) != apperr.SamePrincipal {
		t.Errorf("same name, run without the requester's id: %v, want same_principal", err)
	}
	if _, err := e.decide(nameOnly.RunID, false, remediation.Principal{ID: "00000000-0000-4000-8000-dddddddddddd", Name: "dave@contoso.example", Checked: true}, "no"); err != nil {
		t.Errorf("another principal rejects: %v", err)
	}
	// Under function keys nobody's identity is vouched for: the rule cannot apply (the
	// approve function has keys of its own).
	keyRun := e.start(remediation.StartRequest{User: e.demo.ManagerUPN, RequestedBy: "functionkey:0123456789ab"})
	if _, err := e.decide(keyRun.RunID, true, remediation.Principal{Name: "functionkey:0123456789ab"}, ""); err != nil {
		t.Fatalf("function-key approval: %v", err)
	}
	if _, err := e.decide(run.RunID, true, approver("bob@contoso.example"), "ok"); err != nil {
		t.Fatalf("another principal approves: %v", err)
	}
}

// Approvals racing each other: one wins, the others are told the run was decided, and each
// first step is sent once.
func TestApprovalConcurrentDecisionsDecideOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAll})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, RequestedBy: "alice"})
	var wg sync.WaitGroup
	var won, refused atomic.Int32
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.decide(run.RunID, i%2 == 0, approver("approver"+string(rune('a'+i))), "")
			switch apperr.CodeOf(err) {
			case "", apperr.Internal:
				if err == nil {
					won.Add(1)
					return
				}
				t.Errorf("decide: %v", err)
			case apperr.NotAwaiting:
				refused.Add(1)
			default:
				t.Errorf("decide: %v", err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 || refused.Load() != 5 {
		t.Fatalf("%d decisions won, %d refused; want 1 and 5", won.Load(), refused.Load())
	}
	got := e.get(run.RunID)
	if got.Approval.Decision == runs.Approved {
		for q, n := range e.queue.sent {
			if n != 1 {
				t.Errorf("%s sent %d times", q, n)
			}
		}
		e.drain(1)
		if got = e.get(run.RunID); got.Status != runs.Succeeded {
			t.Fatalf("approved run ended %s", got.Status)
		}
	} else if got.Status != runs.Rejected || len(e.queue.take()) != 0 {
		t.Fatalf("rejected run %s", got.Status)
	}
}

// MAX_REMEDIATIONS_PER_HOUR counts a waiting run when it is created, not again when it is
// approved; a protected account is refused before it could wait.
func TestApprovalRateLimitCountsAWaitingRunOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAll, MaxPerHour: 2, Protected: []string{"breakglass@contoso.example"}})
	ctx := context.Background()
	if _, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.BreakGlassUPN}); apperr.CodeOf(err) != apperr.Protected {
		t.Fatalf("protected account: %v, want protected_account before any approval", err)
	}
	first := e.start(remediation.StartRequest{User: e.demo.UPN, RequestedBy: "alice"})
	if _, err := e.decide(first.RunID, true, approver("bob"), ""); err != nil {
		t.Fatalf("approve within the limit: %v", err)
	}
	e.drain(1)
	if got := e.get(first.RunID); got.Status != runs.Succeeded {
		t.Fatalf("approved run %s", got.Status)
	}
	second := e.start(remediation.StartRequest{User: e.demo.ManagerUPN, RequestedBy: "alice"})
	if second.Status != runs.AwaitingApproval {
		t.Fatalf("second run %s: the approval took a second slot", second.Status)
	}
	if _, err := e.svc.Start(ctx, remediation.StartRequest{User: e.demo.AssistantUPN}); apperr.CodeOf(err) != apperr.RateLimited {
		t.Fatalf("third run: %v, want rate_limited (two runs counted)", err)
	}
	if _, err := e.decide(second.RunID, true, approver("bob"), ""); err != nil {
		t.Fatalf("approving at the limit: %v (the waiting run was counted at creation)", err)
	}
}

// Approval does not bypass the protected-account check before each step: an account
// protected while its run waited is not changed once the run is approved.
func TestApprovalApprovedRunStillChecksProtectedAccountsBeforeEachStep(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAll})
	before := tenantState(t, e.sim, e.demo)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, RequestedBy: "alice"})
	e.svc.Config.Protected = []string{e.demo.UPN}
	e.svc.ResolveProtected(context.Background())
	if _, err := e.decide(run.RunID, true, approver("bob"), "ok"); err != nil {
		t.Fatal(err)
	}
	e.drain(1)
	got := e.get(run.RunID)
	for _, st := range got.Steps {
		if st.Status != runs.StepFailed && st.Status != runs.StepSkipped {
			t.Errorf("step %s %s on an account protected since", st.Name, st.Status)
		}
	}
	if after := tenantState(t, e.sim, e.demo); after != before || len(writes(e.sim)) != 0 {
		t.Fatalf("an approved run changed a protected account: %v", writes(e.sim))
	}
}

// Under APPROVAL_MODE=admins a role group whose members Exchange will not show
// (TenantAdmins_*, RIM-MailboxAdmins*: their membership follows an Entra role or is
// Microsoft's own) does not make every run wait: a user without roles goes at once, a
// user in a readable role group still waits for that group. A group Exchange manages
// whose members cannot be read still makes the run wait (fail closed), and says so.
func TestApprovalAdminsIsNotHeldUpByAnEntraLinkedRoleGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: remediation.ApprovalAdmins})
	// Get-RoleGroup lists their members' names, so each is asked for its members.
	e.sim.AddEntraLinkedRoleGroup("TenantAdmins_-1873021234", e.demo.UserID)
	e.sim.AddEntraLinkedRoleGroup("RIM-MailboxAdmins339fa76789b140aca40174b8db4ddb79", e.demo.UserID)
	exchangeOnly := "0e11e000-0000-4000-8000-000000000003"
	e.sim.AddUser(tenantsim.User{ID: exchangeOnly, UserPrincipalName: "rita.recipients@contoso.example", AccountEnabled: true})
	if !e.sim.AddRoleGroupMember("Recipient Management", exchangeOnly) {
		t.Fatal("the simulator has no Recipient Management role group")
	}
	plain := e.start(remediation.StartRequest{User: e.demo.AssistantUPN, Mode: "sync"})
	if plain.Status != runs.Succeeded || plain.Approval.Required {
		t.Fatalf("run for a user without roles: %s %+v", plain.Status, plain.Approval)
	}
	e.sim.ResetRequests()
	before := tenantState(t, e.sim, e.demo)
	held := e.start(remediation.StartRequest{User: "rita.recipients@contoso.example", Mode: "sync", RequestedBy: "alice"})
	e.assertWaiting(held, before)
	if !strings.Contains(held.Approval.Why, "Exchange role groups: Recipient Management") || strings.Contains(held.Approval.Why, "TenantAdmins_") {
		t.Errorf("why %q", held.Approval.Why)
	}
	// Role groups of Exchange's own whose members cannot be read: the run waits. (Each of
	// the four groups with members is asked once.)
	e.sim.FailNext(4, "Get-RoleGroupMember", 400)
	unsure := e.start(remediation.StartRequest{User: e.demo.AssistantUPN, Mode: "async"})
	if unsure.Status != runs.AwaitingApproval || !strings.Contains(unsure.Approval.Why, "could not be read") {
		t.Fatalf("an Exchange-managed group unreadable: %s %q, want awaiting_approval saying so", unsure.Status, unsure.Approval.Why)
	}
}
