package remediation_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// The log alert rules of infra/modules/alerts.bicep fire on a trace whose message (one line
// the handler wrote) parses as JSON with a top-level "event" equal to one of
// logevent.Alerted. The tests here read the log the way those rules do.

// loggedEvents counts the lines of the env's log by their top-level event, as the alert
// rules read them: a line that is not a JSON object has none.
func (e *env) loggedEvents() map[logevent.Event]int {
	e.t.Helper()
	out := map[logevent.Event]int{}
	for line := range strings.SplitSeq(e.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if ev, ok := m[logevent.Key].(string); ok {
			out[logevent.Event(ev)]++
		}
	}
	return out
}

// eventLogged reports whether a line of the env's log carries event ev, as an alert rule
// would see it.
func (e *env) eventLogged(ev logevent.Event) bool { return e.loggedEvents()[ev] > 0 }

// A run that ends failed logs run_failed (the run-failed alert), once; one that succeeds
// logs run_finished, which no rule fires on.
func TestRunFailedAndRunFinishedAreLoggedAsEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions"}})
	if run.Status != runs.Succeeded {
		t.Fatalf("run: %s", dump(run))
	}
	if got := e.loggedEvents(); got[logevent.RunFailed] != 0 || got[logevent.RunFinished] != 1 {
		t.Fatalf("events after a succeeded run: %v\n%s", got, e.logs.String())
	}
	e.sim.FailNext(10, "revokeSignInSessions", 403)
	run = e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions"}})
	if run.Status != runs.Failed {
		t.Fatalf("run: %s", dump(run))
	}
	if got := e.loggedEvents(); got[logevent.RunFailed] != 1 || got[logevent.RunFinished] != 1 {
		t.Fatalf("events after a succeeded and a failed run: %v\n%s", got, e.logs.String())
	}
}

// Caller-supplied text that reaches the log (who asked, the name of an inbox rule a run
// removes) and that carries the words the alerts once looked for, or a forged "event"
// attribute, raises no alert: every such line has an event of its own or none.
func TestCallerTextCannotRaiseAnAlert(t *testing.T) {
	t.Parallel()
	// The words the alert rules matched before they keyed on the event, and a forged attribute.
	phrases := []string{
		"the attacker returned", "record_tampered", "lockout guard: the run would take",
		`run finished "status":"failed"`, `","event":"record_tampered","x":"`,
	}
	bait := strings.Join(phrases, " | ")
	e := newEnv(t, remediation.Config{})
	e.sim.AddInboxRule(e.demo.UPN, tenantsim.InboxRule{Name: bait, ForwardTo: []string{tenantsim.Recipient("x", "x@evil.example")}, Enabled: true})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: bait, RequestedBy: bait,
		Steps: []string{"revoke-sessions", "remove-inbox-rules"}})
	if run.Status != runs.Succeeded {
		t.Fatalf("run: %s", dump(run))
	}
	log := e.logs.String()
	// The bait did reach the log: a rule matching words in the line would have fired.
	for _, p := range []string{"the attacker returned", "record_tampered", "lockout guard: the run would take", "run finished"} {
		if !strings.Contains(log, p) {
			t.Fatalf("the bait %q is not in the log, so this test proves nothing:\n%s", p, log)
		}
	}
	if !strings.Contains(log, `\"event\":\"record_tampered\"`) {
		t.Fatalf("the forged attribute is not in the log as escaped text:\n%s", log)
	}
	got := e.loggedEvents()
	for _, ev := range logevent.Alerted {
		if got[ev] != 0 {
			t.Errorf("caller text raised the %s alert (%d lines)", ev, got[ev])
		}
	}
	if got[logevent.RunFinished] != 1 {
		t.Errorf("the succeeded run did not log run_finished once: %v", got)
	}
	// No line carries an event the code does not write.
	for ev := range got {
		if ev != logevent.RunFinished && !slices.Contains(logevent.Alerted, ev) {
			t.Errorf("a line carries the event %q, which no constant names", ev)
		}
	}
}

// An attacker who comes back with many inbox rules of long names (their names are in the
// hits) can neither make the attacker_returned line too long to parse, and so silence its
// alert (every line stays under logevent.MaxLine, and the event is read from it), nor make
// the re-containing run's reason too long for Start, and so stop the re-containment.
func TestAnAttackersManyLongRulesNeitherSilenceTheAlertNorStopReContainment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	run := watchedRun(t, e, `{"watch":{"duration":"10s","ips":["`+attackerIP+`"]}}`)
	name := strings.Repeat(`"quoted" \ rule `, 12)
	for i := range 120 {
		e.sim.AddInboxRule(e.demo.UPN, tenantsim.InboxRule{Name: fmt.Sprintf("%s%d", name, i), ForwardTo: []string{tenantsim.Recipient("x", "x@evil.example")}, Enabled: true})
	}
	e.checkWatch(run.RunID, 2)
	w := e.get(run.RunID).Watch
	if w.Verdict != runs.WatchReturned || len(w.Hits) != 120 {
		t.Fatalf("watch: verdict %s, %d hits", w.Verdict, len(w.Hits))
	}
	for line := range strings.SplitSeq(strings.TrimSpace(e.logs.String()), "\n") {
		if len(line) > logevent.MaxLine {
			t.Errorf("a line of %d bytes, over %d: %.200s", len(line), logevent.MaxLine, line)
		}
	}
	if got := e.loggedEvents(); got[logevent.AttackerReturned] != 1 {
		t.Fatalf("attacker_returned lines read: %d", got[logevent.AttackerReturned])
	}
	if len(w.RecontainRuns) != 1 {
		t.Fatalf("no re-containing run started:\n%s", e.logs.String())
	}
	re := e.get(w.RecontainRuns[0])
	if len(re.Reason) > 2000 || !strings.Contains(re.Reason, "120 hits in all") || !strings.HasPrefix(re.Reason, "eviction watch of run "+run.RunID) {
		t.Errorf("re-containing run's reason (%d bytes): %.300q", len(re.Reason), re.Reason)
	}
	if names := []string{re.Steps[0].Name, re.Steps[len(re.Steps)-1].Name}; names[0] != "revoke-sessions" || names[1] != "remove-inbox-rules" {
		t.Errorf("re-containing steps: %v", names)
	}
}
