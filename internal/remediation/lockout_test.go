package remediation_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// The demo tenant's Global Administrators are Megan (GlobalAdminID) and the break-glass
// account; neither is protected unless a test says so.

// disableUser turns an account's sign-in off in the simulated directory.
func disableUser(e *env, id string) {
	u, ok := e.sim.User(id)
	if !ok {
		e.t.Fatalf("no user %s", id)
	}
	u.AccountEnabled = false
	e.sim.AddUser(u)
}

// A run that would reset, block or strip the methods of the tenant's last usable Global
// Administrator waits for a second person under APPROVAL_MODE=none, says why, and changes
// nothing until approved; approved, it acts.
func TestLockoutGuardHoldsTheLastUsableGlobalAdministrator(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"reset-password", "block-sign-in", "remove-mfa-methods"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, remediation.Config{})
			disableUser(e, e.demo.BreakGlassID) // the only other Global Administrator
			run := e.start(remediation.StartRequest{User: e.demo.GlobalAdminUPN, Mode: "sync", Steps: []string{step, "revoke-sessions"}})
			if run.Status != runs.AwaitingApproval || !run.Approval.Required || !strings.Contains(run.Approval.Why, "last usable Global Administrator") || !strings.Contains(run.Approval.Why, step) {
				t.Fatalf("run for the last Global Administrator: %s %+v", run.Status, run.Approval)
			}
			if w := writes(e.sim); len(w) != 0 {
				t.Fatalf("the tenant changed before approval: %v", w)
			}
			if !e.eventLogged(logevent.LockoutGuardHeld) {
				t.Errorf("the guard's decision was not logged as lockout_guard_held:\n%s", e.logs.String())
			}
			if _, err := e.svc.Decide(context.Background(), remediation.DecideRequest{RunID: run.RunID, Approve: true, Reason: "called Megan", By: remediation.Principal{Name: "bob@contoso.example", Checked: true}}); err != nil {
				t.Fatal(err)
			}
			e.drain(1)
			if got := e.get(run.RunID); got.Step("revoke-sessions").Status != runs.StepSucceeded {
				t.Fatalf("approved run: %s", dump(got))
			}
		})
	}
}

// The guard lets a run through while another Global Administrator can recover the tenant,
// counts a protected one as such, and leaves runs that touch no way in (and dry runs) alone.
func TestLockoutGuardLetsThroughWhileAnotherGlobalAdministratorRemains(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		protect, disable bool
		steps            []string
		dryRun           bool
	}{
		"another enabled Global Administrator": {steps: []string{"reset-password"}},
		"a protected Global Administrator":     {protect: true, steps: []string{"reset-password"}},
		"steps that leave the way in":          {disable: true, steps: []string{"revoke-sessions", "remove-forwarding"}},
		"a dry run":                            {disable: true, steps: []string{"reset-password"}, dryRun: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, remediation.Config{})
			if tt.protect {
				e.svc.Config.Protected = []string{e.demo.BreakGlassUPN}
			}
			if tt.disable {
				disableUser(e, e.demo.BreakGlassID)
			}
			run := e.start(remediation.StartRequest{User: e.demo.GlobalAdminUPN, Mode: "sync", DryRun: tt.dryRun, Steps: tt.steps})
			if run.Status == runs.AwaitingApproval || run.Approval.Required {
				t.Fatalf("run waits: %+v", run.Approval)
			}
		})
	}
}

// A spray that makes every Global Administrator an incident entity: the first run goes
// through, the run for the last one waits, also when both start at the same moment.
func TestLockoutGuardCountsOtherRunsAndSerialisesThem(t *testing.T) {
	t.Parallel()
	t.Run("one after the other", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, remediation.Config{})
		first := e.start(remediation.StartRequest{User: e.demo.BreakGlassUPN, Mode: "sync", Steps: []string{"reset-password"}})
		if first.Status != runs.Succeeded {
			t.Fatalf("first: %s", dump(first))
		}
		second := e.start(remediation.StartRequest{User: e.demo.GlobalAdminUPN, Mode: "sync", Steps: []string{"reset-password"}})
		if second.Status != runs.AwaitingApproval || !strings.Contains(second.Approval.Why, "last usable Global Administrator") {
			t.Fatalf("second: %s %+v", second.Status, second.Approval)
		}
		// A run that reset nobody (a dry run, or one that was refused) does not count.
		dry := newEnv(t, remediation.Config{})
		dry.start(remediation.StartRequest{User: dry.demo.BreakGlassUPN, Mode: "sync", DryRun: true, Steps: []string{"reset-password"}})
		if r := dry.start(remediation.StartRequest{User: dry.demo.GlobalAdminUPN, Mode: "sync", Steps: []string{"reset-password"}}); r.Status == runs.AwaitingApproval {
			t.Fatalf("a dry run counted: %+v", r.Approval)
		}
	})
	t.Run("at the same moment", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, remediation.Config{})
		users := []string{e.demo.BreakGlassUPN, e.demo.GlobalAdminUPN}
		got := make([]*runs.Run, len(users))
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				started, err := e.svc.Start(context.Background(), remediation.StartRequest{User: u, Steps: []string{"reset-password"}})
				if err != nil {
					t.Error(err)
					return
				}
				got[i] = started.Run
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		waiting := 0
		for _, r := range got {
			if r.Status == runs.AwaitingApproval {
				waiting++
			}
		}
		if waiting != 1 {
			t.Fatalf("%d of two concurrent runs for the last two Global Administrators wait, want 1: %s / %s", waiting, got[0].Status, got[1].Status)
		}
	})
}
