package remediation_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
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
