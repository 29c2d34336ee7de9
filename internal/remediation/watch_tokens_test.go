package remediation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// An attacker who comes back with a token (a refresh token, a session cookie) shows only
// in the non-interactive sign-ins. A sign-in, of either kind, in a session the
// investigation attributes to the attacker is a return from whatever address; the user's
// own sign-ins from an ordinary address, of either kind, are not.
func TestWatchSeesATokenReplayedInAnAttackerSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-3",
		Steps: []string{"investigate", "reset-password", "revoke-sessions"}, Options: []byte(`{"watch":{"duration":"10s"}}`)})
	if run.Watch == nil {
		t.Fatalf("not watched: %s", dump(run))
	}
	ind := run.Step("investigate").Findings.Indicators
	if len(ind.SessionIDs) == 0 {
		t.Fatalf("the investigation recorded no attacker session: %+v", ind)
	}
	if !strings.Contains(strings.Join(run.Watch.Checked, "\n"), ind.SessionIDs[0]) {
		t.Errorf("the watch does not say it looks for the attacker's sessions: %q", run.Watch.Checked)
	}
	e.checkWatch(run.RunID, 1)

	// The user signs in again from home, then their client refreshes its token.
	const home, elsewhere = "198.51.100.20", "192.0.2.77"
	e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Outlook", IP: home, Country: "DK"})
	e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Outlook", IP: home, Country: "DK", NonInteractive: true})
	e.checkWatch(run.RunID, 2)
	if w := e.get(run.RunID).Watch; len(w.Hits) != 0 || w.Verdict != runs.WatchWatching || len(w.Unavailable) != 0 {
		t.Fatalf("the user's own sign-ins were taken for the attacker: %+v", w)
	}

	// The attacker replays a token of their session from a new address.
	e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Office 365 Exchange Online", IP: elsewhere,
		Country: "RO", SessionID: ind.SessionIDs[0], NonInteractive: true})
	e.checkWatch(run.RunID, 3)
	w := e.get(run.RunID).Watch
	if w.Verdict != runs.WatchReturned || len(w.Hits) != 1 || w.Hits[0].Kind != "sign-in" || w.Hits[0].IP != elsewhere || len(w.RecontainRuns) != 1 {
		t.Fatalf("watch: %+v", w)
	}
	if d := w.Hits[0].Detail; !strings.Contains(d, "non-interactive") || !strings.Contains(d, ind.SessionIDs[0]) {
		t.Errorf("the hit does not say what it was: %q", d)
	}
	if re := e.get(w.RecontainRuns[0]); re.ParentRunID != run.RunID || len(re.Steps) != 1 || re.Steps[0].Name != "revoke-sessions" {
		t.Fatalf("re-containing run: %s", dump(re))
	}
}

// Where Graph's beta endpoint refuses, the watch goes on with v1.0's interactive sign-ins
// (an interactive return is still seen) and records once that the non-interactive ones
// could not be read.
func TestWatchWithoutBetaSignInsReadsV1AndSaysWhatItMissed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	e.sim.RefuseBetaSignIns(true)
	run := watchedRun(t, e, `{"watch":{"duration":"10s","ips":["`+attackerIP+`"]}}`)
	// The gap is a note: the sign-in source answered, so nothing is named unavailable
	// (contract 1.3 keeps unavailable for what the tenant does not allow).
	gap := func(w *runs.Watch) []string {
		if len(w.Unavailable) != 0 {
			t.Fatalf("unavailable %+v though every source answered", w.Unavailable)
		}
		var out []string
		for _, n := range w.Notes {
			if strings.HasPrefix(n, "non-interactive sign-ins") {
				out = append(out, n)
			}
		}
		return out
	}
	first := gap(run.Watch)
	if len(first) != 1 || !strings.Contains(first[0], "beta") {
		t.Fatalf("the baseline check did not note the non-interactive sign-ins it could not read: %+v", run.Watch.Notes)
	}
	e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Outlook", IP: attackerIP})
	e.checkWatch(run.RunID, 2)
	w := e.get(run.RunID).Watch
	if len(w.Hits) != 1 || w.Hits[0].IP != attackerIP || len(w.RecontainRuns) != 1 {
		t.Fatalf("v1.0's interactive sign-in was not seen: %+v", w)
	}
	e.after(11 * time.Second)
	e.checkWatch(run.RunID, 3)
	w = e.get(run.RunID).Watch
	if again := gap(w); len(again) != 1 || again[0] != first[0] || w.Checks != 3 {
		t.Fatalf("the gap is not noted once: %+v", w.Notes)
	}
}

// A non-interactive listing throttled past the client's retries while the interactive one
// answered is read again from the same time at the next check: the token replay it hid is
// still a hit, and nothing is named unavailable for a failure that passed.
func TestWatchReadsThrottledNonInteractiveSignInsAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	run := watchedRun(t, e, `{"watch":{"duration":"10s","ips":["`+attackerIP+`"]}}`)
	e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Outlook", IP: attackerIP, NonInteractive: true})
	e.sim.ThrottleNextWhere(2, "auditLogs/signIns", "'nonInteractiveUser'", time.Second)
	e.checkWatch(run.RunID, 2)
	if w := e.get(run.RunID).Watch; w.Checks != 2 || len(w.Hits) != 0 || len(w.Unavailable) != 0 {
		t.Fatalf("a throttled check: %+v", w)
	}
	e.checkWatch(run.RunID, 3)
	if w := e.get(run.RunID).Watch; len(w.Hits) != 1 || w.Hits[0].IP != attackerIP || len(w.Unavailable) != 0 {
		t.Fatalf("the token replay the throttled check missed was not seen at the next: %+v", w)
	}
}
