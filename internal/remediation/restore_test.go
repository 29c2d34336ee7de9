package remediation_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// restoredSteps lists the steps the items of a restore came from, in order, once each.
func restoredSteps(items []runs.RestoreItem) []string {
	var out []string
	for _, it := range items {
		if !slices.Contains(out, it.Step) {
			out = append(out, it.Step)
		}
	}
	return out
}

// TestRestoreWithoutStepsGivesBackTheVictimsOwnAccessOnly: a restore that names no steps
// gives back roles, sign-in, protocols and role groups, never a mailbox delegate or an app
// consent (the attacker may have added them); those come back only when named, and a
// request that names steps restores exactly those (contract section 2).
func TestRestoreWithoutStepsGivesBackTheVictimsOwnAccessOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	d := e.demo
	all := []string{"reset-password", "block-sign-in", "revoke-sessions", "remove-admin-roles", "remove-exchange-role-groups",
		"disable-mail-protocols", "remove-mailbox-delegates", "revoke-app-consents"}
	run := e.start(remediation.StartRequest{User: d.UPN, Steps: all, Mode: "sync", Reason: "INC-20 restore defaults"})
	for _, name := range all[3:] {
		if st := run.Step(name); st.Status != runs.StepSucceeded || len(st.Changes) == 0 {
			t.Fatalf("%s: %+v\n%s", name, st, dump(run))
		}
	}
	if st := run.Step("block-sign-in"); st.Status != runs.StepSucceeded {
		t.Fatalf("block-sign-in: %+v", st)
	}
	delegates := len(readAccess(e.sim, d.UPN).fullAccess)
	grants := len(e.sim.PermissionGrants(d.UserID))

	restored, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, RequestedBy: "soc"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"block-sign-in", "remove-admin-roles", "remove-exchange-role-groups", "disable-mail-protocols"}
	if got := restoredSteps(restored.Items); !slices.Equal(got, want) {
		t.Fatalf("a restore without steps restored %v, want %v: %+v", got, want, restored.Items)
	}
	for _, it := range restored.Items {
		if it.Result != "restored" {
			t.Errorf("item %+v", it)
		}
	}
	if u, _ := e.sim.User(d.UserID); !u.AccountEnabled {
		t.Error("sign-in was not given back")
	}
	if n := len(readAccess(e.sim, d.UPN).fullAccess); n != delegates {
		t.Errorf("a restore without steps gave back a mailbox delegate: %d FullAccess entries, %d after the run", n, delegates)
	}
	if n := len(e.sim.PermissionGrants(d.UserID)); n != grants {
		t.Errorf("a restore without steps gave back an app consent: %d grants, %d after the run", n, grants)
	}
	if got := e.get(run.RunID).Restorations; len(got) != 1 || len(got[0].Steps) != 0 {
		t.Errorf("restorations %+v", got)
	}

	// Named, exactly the steps named come back.
	named, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"remove-mailbox-delegates"}, RequestedBy: "soc"})
	if err != nil {
		t.Fatal(err)
	}
	if got := restoredSteps(named.Items); !slices.Equal(got, []string{"remove-mailbox-delegates"}) {
		t.Fatalf("naming remove-mailbox-delegates restored %v: %+v", got, named.Items)
	}
	if n := len(readAccess(e.sim, d.UPN).fullAccess); n != delegates+1 {
		t.Errorf("FullAccess entries %d after naming the delegates, want %d", n, delegates+1)
	}
	if n := len(e.sim.PermissionGrants(d.UserID)); n != grants {
		t.Errorf("naming the delegates gave back an app consent: %d grants, want %d", n, grants)
	}
	consents, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"revoke-app-consents"}, RequestedBy: "soc"})
	if err != nil {
		t.Fatal(err)
	}
	if got := restoredSteps(consents.Items); !slices.Equal(got, []string{"revoke-app-consents"}) || consents.Items[0].Result != "restored" {
		t.Fatalf("naming revoke-app-consents restored %+v", consents.Items)
	}
	if n := len(e.sim.PermissionGrants(d.UserID)); n != grants+1 {
		t.Errorf("grants %d after naming the consents, want %d", n, grants+1)
	}
}

// TestRestoresCountAgainstAnHourlyLimit: restores that grant something count against the
// tenant-wide hourly budget (MAX_REMEDIATIONS_PER_HOUR); past it a restore answers 429 with
// Retry-After and grants nothing. A repeat that finds everything present grants nothing and
// does not use the budget up.
func TestRestoresCountAgainstAnHourlyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{MaxPerHour: 2})
	ctx := context.Background()
	d := e.demo
	run := e.start(remediation.StartRequest{User: d.UPN, Steps: []string{"block-sign-in"}, Mode: "sync", Reason: "INC-20 restore budget"})
	if st := run.Step("block-sign-in"); st.Status != runs.StepSucceeded {
		t.Fatalf("block-sign-in: %+v", st)
	}
	disable := func() {
		u, _ := e.sim.User(d.UserID)
		u.AccountEnabled = false
		e.sim.AddUser(u)
	}
	restore := func() (*remediation.Restored, error) {
		return e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Force: true, Reason: "INC-20 test", RequestedBy: "soc"})
	}
	want := []string{"restored", "already_present", "already_present", "restored"}
	for i, result := range want {
		if i == 3 {
			disable() // blocked again outside this run: the next restore grants again
		}
		got, err := restore()
		if err != nil || len(got.Items) != 1 || got.Items[0].Result != result {
			t.Fatalf("restore %d: %+v %v, want %s", i, got, err, result)
		}
	}
	// Two restores granted: the budget of two is used up.
	disable()
	got, err := restore()
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.RateLimited || ae.RetryAfter <= 0 {
		t.Fatalf("a restore past the hourly budget: %+v %v, want rate_limited with Retry-After", got, err)
	}
	if u, _ := e.sim.User(d.UserID); u.AccountEnabled {
		t.Fatal("a restore past the hourly budget enabled the account")
	}
	if n := len(e.get(run.RunID).Restorations); n != 4 {
		t.Errorf("%d restorations recorded, want 4 (the refused one records nothing)", n)
	}
}

// TestRestoreThatGrantsPrivilegeWaitsForASecondPerson: under APPROVAL_MODE admins (or all)
// a restore that would grant a directory role or an Exchange role group is recorded
// awaiting_approval and grants nothing; the requester cannot decide it (same_principal); a
// second person's approval carries it out once; a rejection or an expiry grants nothing; a
// waiting restoration altered in the store is never carried out.
func TestRestoreThatGrantsPrivilegeWaitsForASecondPerson(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	d := e.demo
	run := e.start(remediation.StartRequest{User: d.UPN, Steps: []string{"reset-password", "block-sign-in", "revoke-sessions", "remove-admin-roles"}, Mode: "sync", Reason: "INC-20 approval"})
	if run.Status != runs.Succeeded {
		t.Fatalf("run %s\n%s", run.Status, dump(run))
	}
	removed := len(run.Step("remove-admin-roles").Changes)
	e.svc.Config.ApprovalMode = remediation.ApprovalAdmins
	alice := remediation.Principal{ID: "aaaaaaaa-0000-4000-8000-00000000000a", Name: "alice@contoso.example", Checked: true}
	bob := remediation.Principal{ID: "bbbbbbbb-0000-4000-8000-00000000000b", Name: "bob@contoso.example", Checked: true}
	roles := func() int { return len(e.sim.RoleAssignments(d.UserID)) }
	enabled := func() bool { u, _ := e.sim.User(d.UserID); return u.AccountEnabled }
	rolesAfterRun := roles()

	// Only the sign-in, named: no privilege, no wait.
	signIn, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"block-sign-in"}, RequestedBy: alice.Name, RequesterID: alice.ID})
	if err != nil || signIn.Waiting() || signIn.Status != "succeeded" || !enabled() {
		t.Fatalf("restore of block-sign-in alone: %+v %v", signIn, err)
	}
	e.sim.AddUser(func() tenantsim.User { u, _ := e.sim.User(d.UserID); u.AccountEnabled = false; return u }())

	waiting, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, RequestedBy: alice.Name, RequesterID: alice.ID})
	if err != nil || !waiting.Waiting() || waiting.RestorationID == "" || len(waiting.Items) != removed+1 {
		t.Fatalf("a restore that grants roles under APPROVAL_MODE=admins: %+v %v", waiting, err)
	}
	for _, it := range waiting.Items {
		if it.Result != "awaiting_approval" {
			t.Errorf("item %+v", it)
		}
	}
	if roles() != rolesAfterRun || enabled() {
		t.Fatal("a restore awaiting approval granted something")
	}
	rec := e.get(run.RunID).Restorations
	if last := rec[len(rec)-1]; last.Status != "awaiting_approval" || last.Approval == nil || !strings.Contains(last.Approval.Why, "APPROVAL_MODE=admins") {
		t.Fatalf("recorded %+v", last)
	}

	decide := func(id string, approve bool, by remediation.Principal) (*remediation.Restored, error) {
		return e.svc.DecideRestoration(ctx, remediation.DecideRestoreRequest{RunID: run.RunID, RestorationID: id, Approve: approve, Reason: "checked with the user", By: by})
	}
	var ae *apperr.Error
	if _, err := decide(waiting.RestorationID, true, alice); !errors.As(err, &ae) || ae.Code != apperr.SamePrincipal {
		t.Fatalf("the requester approved her own restore: %v", err)
	}
	if roles() != rolesAfterRun {
		t.Fatal("a refused approval granted something")
	}
	done, err := decide(waiting.RestorationID, true, bob)
	if err != nil || done.Status != "succeeded" || done.RestorationID != waiting.RestorationID {
		t.Fatalf("approved by a second person: %+v %v", done, err)
	}
	for _, it := range done.Items {
		if it.Result != "restored" {
			t.Errorf("approved item %+v", it)
		}
	}
	if roles() == rolesAfterRun || !enabled() {
		t.Fatal("the approved restore granted nothing")
	}
	rec = e.get(run.RunID).Restorations
	if last := rec[len(rec)-1]; last.ID != waiting.RestorationID || last.Status != "succeeded" || last.Approval.Decision != runs.Approved || last.Approval.DecidedBy != bob.Name || len(rec) != 2 {
		t.Fatalf("recorded %+v (of %d)", last, len(rec))
	}
	if _, err := decide(waiting.RestorationID, true, bob); !errors.As(err, &ae) || ae.Code != apperr.NotAwaiting {
		t.Fatalf("a second approval: %v", err)
	}

	// Rejected: nothing granted.
	gone := e.sim.RoleAssignments(d.UserID)[0]
	if err := e.svc.Runner.Directory.DeleteRoleAssignment(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	before := roles()
	again, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"remove-admin-roles"}, RequestedBy: alice.Name, RequesterID: alice.ID})
	if err != nil || !again.Waiting() {
		t.Fatalf("second restore: %+v %v", again, err)
	}
	rejected, err := decide(again.RestorationID, false, bob)
	if err != nil || rejected.Status != "rejected" || roles() != before {
		t.Fatalf("rejected: %+v %v, roles %d want %d", rejected, err, roles(), before)
	}

	// Altered in the store while it waits (force added): never carried out.
	forged, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"remove-admin-roles"}, RequestedBy: alice.Name, RequesterID: alice.ID})
	if err != nil || !forged.Waiting() {
		t.Fatalf("third restore: %+v %v", forged, err)
	}
	stored, err := e.svc.Store.Get(ctx, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	stored.Restorations[len(stored.Restorations)-1].RequestedBy = "mallory@contoso.example"
	if err := e.svc.Store.UpdateRun(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := decide(forged.RestorationID, true, bob); !errors.As(err, &ae) || ae.Code != apperr.RecordTampered || roles() != before {
		t.Fatalf("an altered waiting restoration: %v, roles %d want %d", err, roles(), before)
	}

	// Undecided past APPROVAL_TIMEOUT: expired, nothing granted.
	late, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"remove-admin-roles"}, RequestedBy: alice.Name, RequesterID: alice.ID})
	if err != nil || !late.Waiting() {
		t.Fatalf("fourth restore: %+v %v", late, err)
	}
	e.svc.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := decide(late.RestorationID, true, bob); !errors.As(err, &ae) || ae.Code != apperr.NotAwaiting || roles() != before {
		t.Fatalf("an expired restoration: %v", err)
	}
	rec = e.get(run.RunID).Restorations
	if last := rec[len(rec)-1]; last.Status != "expired" {
		t.Fatalf("recorded %+v", last)
	}
}
