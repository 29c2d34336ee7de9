package remediation_test

import (
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// The evidence is in the run record before the tenant changes: when the action then fails,
// the record still says what was read and about to change; when it succeeds, the step's
// changes are the record and the evidence is dropped.
func TestEvidenceSurvivesAFailedAction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.FailNext(1000, "Set-Mailbox", 403) // permanent: the step ends failed at once
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-forwarding"}})
	st := e.get(run.RunID).Step("remove-forwarding")
	if st.Status != runs.StepFailed || len(st.Changes) != 0 {
		t.Fatalf("step %s with %d changes; want failed with none\n%s", st.Status, len(st.Changes), dump(run))
	}
	if len(st.Evidence) != 1 || st.Evidence[0].Action != "forwarding_removed" {
		t.Fatalf("evidence %+v; want the planned forwarding removal", st.Evidence)
	}
	before, _ := st.Evidence[0].Before.(map[string]any)
	if addr, _ := before["ForwardingSmtpAddress"].(string); !strings.Contains(addr, "@") {
		t.Fatalf("evidence lacks the forwarding address it was about to clear: %+v", st.Evidence[0].Before)
	}

	ok := newEnv(t, remediation.Config{})
	done := ok.get(ok.start(remediation.StartRequest{User: ok.demo.UPN, Mode: "sync", Steps: []string{"remove-forwarding"}}).RunID).Step("remove-forwarding")
	if done.Status != runs.StepSucceeded || len(done.Changes) != 1 || len(done.Evidence) != 0 {
		t.Fatalf("succeeded step: %s, %d changes, %d evidence items; want the changes alone", done.Status, len(done.Changes), len(done.Evidence))
	}
}
