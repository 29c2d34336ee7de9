package remediation_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// A removal Graph carried out but whose answer never arrived (the connection dropped) is
// on the record: the step's next delivery reads the tenant, finds the membership gone and
// has nothing left to do, and the removal its earlier delivery planned, recorded as
// evidence and sent is recorded as a change, with its restore record, saying how it was
// learnt.
func TestARemovalWhoseAnswerWasLostIsRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.LoseAnswerNext(1, "/$ref")
	e.sim.FailNext(5, "/$ref", 500) // the client's own retries of the DELETE fail too
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "async", Steps: []string{"remove-admin-roles"}, Reason: "INC-7"})

	ctx := context.Background()
	msgs := e.queue.take()
	if len(msgs) != 1 {
		t.Fatalf("messages %v", msgs)
	}
	err := e.svc.ExecuteStep(ctx, run.RunID, steps.RemoveAdminRoles, remediation.Delivery{Queued: true, DequeueCount: 1, MessageID: "m1"})
	if !errors.Is(err, remediation.ErrRetry) {
		t.Fatalf("first delivery: %v, want a retry (the DELETE's answer was lost)", err)
	}
	for _, m := range e.sim.GroupMembers(e.demo.HelpdeskGroupID) {
		if m == e.demo.UserID {
			t.Fatal("the simulator did not carry out the DELETE whose answer it lost")
		}
	}
	if err := e.svc.ExecuteStep(ctx, run.RunID, steps.RemoveAdminRoles, remediation.Delivery{Queued: true, DequeueCount: 2, MessageID: "m1"}); err != nil {
		t.Fatalf("second delivery: %v", err)
	}

	got := e.get(run.RunID)
	st := got.Step("remove-admin-roles")
	if st.Status != runs.StepSucceeded {
		t.Fatalf("step %s\n%s", st.Status, dump(got))
	}
	var membership *runs.Change
	for i, c := range st.Changes {
		if c.Action == "group_membership_removed" {
			membership = &st.Changes[i]
		}
	}
	if membership == nil {
		t.Fatalf("the removal whose answer was lost is not on the record\n%s", dump(got))
	}
	if membership.Restore == nil || membership.Seal == "" {
		t.Errorf("the carried-over change cannot be restored: %+v", membership)
	}
	if !strings.Contains(strings.Join(membership.Reasons, " "), "answer") {
		t.Errorf("the record does not say how the change was learnt: %v", membership.Reasons)
	}
	if len(st.Evidence) != 0 {
		t.Errorf("evidence left after the step finished: %+v", st.Evidence)
	}
	// Every other removal happened once and is recorded once.
	n := map[string]int{}
	for _, c := range st.Changes {
		n[c.Action+" "+c.Target]++
	}
	for k, v := range n {
		if v != 1 {
			t.Errorf("%s recorded %d times", k, v)
		}
	}
}
