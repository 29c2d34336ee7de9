package remediation_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// A change Graph or Exchange carried out but whose answer never arrived (the connection
// dropped) is on the record: the step's next delivery reads the tenant, finds the change
// done and has nothing left to do about it, and the change its earlier delivery planned,
// recorded as evidence and sent is recorded, with its restore record, saying how it was
// learnt.
func TestAChangeWhoseAnswerWasLostIsRecorded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		step   catalog.Name
		match  string // the write whose answer is lost; its retries inside the client fail
		action string // the change that must be on the record
		done   func(*tenantsim.Sim, tenantsim.Demo) bool
		opts   string
	}{
		{"group membership, Graph", "remove-admin-roles", "/$ref", "group_membership_removed", func(sim *tenantsim.Sim, d tenantsim.Demo) bool {
			for _, m := range sim.GroupMembers(d.HelpdeskGroupID) {
				if m == d.UserID {
					return false
				}
			}
			return true
		}, ""},
		{"inbox rule, Exchange", "remove-inbox-rules", "Disable-InboxRule", "disabled", func(sim *tenantsim.Sim, d tenantsim.Demo) bool {
			disabled := 0
			for _, r := range sim.InboxRules(d.UPN) {
				for _, id := range d.SuspiciousRules {
					if r.Identity == id && !r.Enabled {
						disabled++
					}
				}
			}
			return disabled == 1 // the one whose answer was lost; the others failed
		}, ""},
		{"device, Graph", "block-sign-in", "/devices/", "device_disabled", func(sim *tenantsim.Sim, d tenantsim.Demo) bool {
			dev, _ := sim.GetDevice(d.AttackerDeviceID)
			return !dev.AccountEnabled
		}, `{"blockSignIn":{"disableDevices":true}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, remediation.Config{})
			e.sim.LoseAnswerNext(1, tc.match)
			e.sim.FailNext(20, tc.match, 500) // the client's own retries, and the other items, fail
			req := remediation.StartRequest{User: e.demo.UPN, Mode: "async", Steps: []string{string(tc.step)}, Reason: "INC-7"}
			if tc.opts != "" {
				req.Options = []byte(tc.opts)
			}
			run := e.start(req)
			e.queue.take()

			ctx := context.Background()
			err := e.svc.ExecuteStep(ctx, run.RunID, tc.step, remediation.Delivery{Queued: true, DequeueCount: 1, MessageID: "m1"})
			if !errors.Is(err, remediation.ErrRetry) {
				t.Fatalf("first delivery: %v, want a retry (the write's answer was lost)", err)
			}
			if !tc.done(e.sim, e.demo) {
				t.Fatal("the simulator did not carry out the write whose answer it lost")
			}
			// Later deliveries meet the rest of the injected failures, then get through.
			for d := 2; ; d++ {
				err := e.svc.ExecuteStep(ctx, run.RunID, tc.step, remediation.Delivery{Queued: true, DequeueCount: d, MessageID: "m1"})
				if err == nil {
					break
				}
				if !errors.Is(err, remediation.ErrRetry) || d == 10 {
					t.Fatalf("delivery %d: %v", d, err)
				}
			}

			got := e.get(run.RunID)
			st := got.Step(string(tc.step))
			if st.Status != runs.StepSucceeded {
				t.Fatalf("step %s\n%s", st.Status, dump(got))
			}
			learnt := 0
			seen := map[string]int{}
			for _, c := range st.Changes {
				seen[c.Action+" "+c.Target]++
				if c.Action == tc.action && strings.Contains(strings.Join(c.Reasons, " "), "answer never came") {
					learnt++
					if tc.step != "remove-inbox-rules" && (c.Restore == nil || c.Seal == "") {
						t.Errorf("the carried-over removal cannot be restored: %+v", c)
					}
				}
			}
			if learnt != 1 {
				t.Fatalf("%d changes learnt from the lost answer, want 1\n%s", learnt, dump(got))
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("%s recorded %d times", k, n)
				}
			}
			if len(st.Evidence) != 0 {
				t.Errorf("evidence left after the step finished: %+v", st.Evidence)
			}
		})
	}
}

// A step that ends action_required cannot tell a removal whose answer was lost from a grant
// it now keeps, so it does not record it as made; it keeps it as evidence instead, the
// record that it was planned and sent and that its outcome is not known.
func TestALostAnswerInAStepThatEndsActionRequiredStaysAsEvidence(t *testing.T) {
	t.Parallel()
	const soloID = "0a0a0a0a-0000-4000-8000-00000000b0b0"
	const groupID = "0b0b0b0b-0000-4000-8000-00000000b0b0"
	e := newEnvSeeded(t, remediation.Config{}, func(sim *tenantsim.Sim) tenantsim.Demo {
		sim.AddAcceptedDomain("solo.example")
		sim.AddUser(tenantsim.User{ID: soloID, UserPrincipalName: "solo@solo.example", DisplayName: "Solo Admin", AccountEnabled: true})
		sim.AssignRole(soloID, steps.GlobalAdministratorTemplateID, "/") // the last one: kept
		sim.AddGroup(tenantsim.Group{ID: groupID, DisplayName: "Helpdesk Admins", IsAssignableToRole: true})
		sim.AssignRole(groupID, tenantsim.RoleUserAdministrator, "/")
		sim.AddGroupMember(groupID, soloID)
		return tenantsim.Demo{UserID: soloID, UPN: "solo@solo.example"}
	})
	e.sim.LoseAnswerNext(1, "/$ref")
	e.sim.FailNext(20, "/$ref", 500)
	run := e.start(remediation.StartRequest{User: "solo@solo.example", Mode: "async", Steps: []string{"remove-admin-roles"}, Reason: "INC-8"})
	e.queue.take()
	ctx := context.Background()
	if err := e.svc.ExecuteStep(ctx, run.RunID, "remove-admin-roles", remediation.Delivery{Queued: true, DequeueCount: 1, MessageID: "m1"}); !errors.Is(err, remediation.ErrRetry) {
		t.Fatalf("first delivery: %v, want a retry", err)
	}
	if err := e.svc.ExecuteStep(ctx, run.RunID, "remove-admin-roles", remediation.Delivery{Queued: true, DequeueCount: 2, MessageID: "m1"}); err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	got := e.get(run.RunID)
	st := got.Step("remove-admin-roles")
	if st.Status != runs.StepActionRequired {
		t.Fatalf("step %s\n%s", st.Status, dump(got))
	}
	for _, c := range st.Changes {
		if c.Action == "group_membership_removed" {
			t.Fatalf("recorded as made although the step could not tell: %+v", c)
		}
	}
	if len(st.Evidence) != 1 || st.Evidence[0].Action != "group_membership_removed" {
		t.Fatalf("evidence %+v, want the membership removal whose answer was lost", st.Evidence)
	}
}
