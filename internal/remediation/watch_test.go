package remediation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

const attackerIP = "203.0.113.66"

// watchedRun runs a sync containment of the demo user with an eviction watch and answers
// it; the watch's first check (the baseline) is done.
func watchedRun(t *testing.T, e *env, options string) *runs.Run {
	t.Helper()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-1",
		Steps: []string{"reset-password", "revoke-sessions", "remove-forwarding", "remove-inbox-rules"}, Options: []byte(options)})
	if run.Status != runs.Succeeded || run.Watch == nil {
		t.Fatalf("run: %s, watch %+v\n%s", run.Status, run.Watch, dump(run))
	}
	w := run.Watch
	if w.Verdict != runs.WatchWatching || w.Interval != "2s" || run.FinishedAt == nil || w.Until.Sub(*run.FinishedAt) != 10*time.Second {
		t.Fatalf("watch at the start: %+v", w)
	}
	if !e.queue.sentTo("watch") {
		t.Fatal("the first check was not sent to the watch queue")
	}
	e.checkWatch(run.RunID, 1)
	return e.get(run.RunID)
}

func (q *memQueue) sentTo(queue string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sent[queue] > 0
}

func (e *env) checkWatch(runID string, check int) {
	e.t.Helper()
	if err := e.svc.CheckWatch(context.Background(), runID, check); err != nil {
		e.t.Fatalf("check %d: %v", check, err)
	}
}

// after sets the service's clock d ahead.
func (e *env) after(d time.Duration) { e.svc.Now = func() time.Time { return time.Now().Add(d) } }

// A watch that sees nothing ends no_return_seen, saying how many checks it made; the user's
// own sign-in from elsewhere is not a hit.
func TestWatchEndsNoReturnSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	run := watchedRun(t, e, `{"watch":{"duration":"10s","ips":["`+attackerIP+`"]}}`)
	e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Outlook", IP: "198.51.100.20", Country: "DK"})
	e.checkWatch(run.RunID, 2)
	e.after(11 * time.Second)
	e.checkWatch(run.RunID, 3)
	got := e.get(run.RunID).Watch
	if got.Verdict != runs.WatchNoReturnSeen || got.Checks != 3 || len(got.Hits) != 0 || got.LastCheckAt == nil || len(got.RecontainRuns) != 0 {
		t.Fatalf("watch: %+v", got)
	}
	// A late or duplicate message changes nothing.
	e.checkWatch(run.RunID, 3)
	e.checkWatch(run.RunID, 4)
	if again := e.get(run.RunID).Watch; again.Checks != 3 {
		t.Fatalf("a message after the end checked again: %+v", again)
	}
}

// The attacker comes back three ways; each is a hit, and the watch re-contains at once with
// a run whose parent is the watched run, once per check however often its message comes.
func TestWatchSeesTheAttackerReturnAndReContains(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		come      func(e *env)
		kind      string
		wantSteps []string
	}{
		"sign-in from an attacker address": {
			come: func(e *env) {
				e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Office 365 Exchange Online", IP: attackerIP, Country: "NG"})
			},
			kind: "sign-in", wantSteps: []string{"revoke-sessions"},
		},
		"a token replayed from an attacker address": {
			come: func(e *env) {
				e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Office 365 Exchange Online", IP: attackerIP, Country: "NG", NonInteractive: true})
			},
			kind: "sign-in", wantSteps: []string{"revoke-sessions"},
		},
		"forwarding set again": {
			come: func(e *env) { e.sim.SetForwarding(e.demo.UPN, "smtp:drop@evil.example", "", true) },
			kind: "forwarding", wantSteps: []string{"revoke-sessions", "remove-forwarding"},
		},
		"a new suspicious inbox rule": {
			come: func(e *env) {
				e.sim.AddInboxRule(e.demo.UPN, tenantsim.InboxRule{Name: "..", ForwardTo: []string{tenantsim.Recipient("x", "x@evil.example")}, Enabled: true})
			},
			kind: "inbox-rule", wantSteps: []string{"revoke-sessions", "remove-inbox-rules"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
			run := watchedRun(t, e, `{"watch":{"duration":"10s","ips":["`+attackerIP+`"]}}`)
			if run.Watch.Checks != 1 || len(run.Watch.Hits) != 0 {
				t.Fatalf("the baseline check found a hit: %+v", run.Watch)
			}
			tt.come(e)
			e.checkWatch(run.RunID, 2)
			e.checkWatch(run.RunID, 2) // the same message again
			w := e.get(run.RunID).Watch
			if w.Verdict != runs.WatchReturned || len(w.Hits) != 1 || w.Hits[0].Kind != tt.kind || len(w.RecontainRuns) != 1 {
				t.Fatalf("watch: %+v", w)
			}
			if !e.eventLogged(logevent.AttackerReturned) {
				t.Errorf("no attacker_returned line for the alert rule:\n%s", e.logs.String())
			}
			re := e.get(w.RecontainRuns[0])
			if re.ParentRunID != run.RunID || !strings.HasPrefix(re.RequestedBy, "watch:") {
				t.Fatalf("re-containing run: parent %q, requestedBy %q", re.ParentRunID, re.RequestedBy)
			}
			var names []string
			for _, st := range re.Steps {
				names = append(names, st.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.wantSteps, ",") {
				t.Errorf("re-containing steps %v, want %v", names, tt.wantSteps)
			}
			e.drain(1)
			if re = e.get(re.RunID); re.Status != runs.Succeeded {
				t.Fatalf("re-containing run: %s", dump(re))
			}
			// The watch goes on to its end and stays returned.
			e.after(11 * time.Second)
			e.checkWatch(run.RunID, 3)
			if w = e.get(run.RunID).Watch; w.Verdict != runs.WatchReturned || len(w.RecontainRuns) != 1 {
				t.Fatalf("at the end: %+v", w)
			}
		})
	}
}

// Where the tenant has no sign-in logs the watch says so, and still ends no_return_seen
// (what it looked at, not a claim that nothing happened); a dry run plans without watching.
func TestWatchNamesWhatItCouldNotReadAndDryRunsAreNotWatched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	e.sim.SetSignInLogsLicensed(false)
	run := watchedRun(t, e, `{"watch":{"duration":"10s"}}`)
	e.after(11 * time.Second)
	e.checkWatch(run.RunID, 2)
	w := e.get(run.RunID).Watch
	if w.Verdict != runs.WatchNoReturnSeen || len(w.Unavailable) != 1 || w.Unavailable[0].Source != "sign-ins" {
		t.Fatalf("watch: %+v", w)
	}
	dry := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true, Steps: []string{"revoke-sessions"}, Options: []byte(`{"watch":{"duration":"1h"}}`)})
	if dry.Watch != nil || dry.Status != runs.Planned {
		t.Fatalf("dry run: %s %+v", dry.Status, dry.Watch)
	}
}

// WATCH_DEFAULT watches every run that changes the tenant; the recovery timer sends the
// check of a watch whose message was lost.
func TestWatchDefaultAndRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchDefault: 10 * time.Second, WatchInterval: 2 * time.Second})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions"}})
	if run.Watch == nil || run.Watch.Verdict != runs.WatchWatching {
		t.Fatalf("WATCH_DEFAULT did not watch: %+v", run.Watch)
	}
	e.queue.take() // the first check's message is lost
	e.after(5 * time.Second)
	if _, err := e.svc.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := e.queue.take()
	if len(msgs) != 1 || msgs[0].queue != "watch" || msgs[0].runID != run.RunID {
		t.Fatalf("recovery sent %v", msgs)
	}
}

// A person can stop a watch before its end; who and why are recorded, later checks change
// nothing, and stopping it again (or a run without a watch) is a conflict.
func TestWatchCanBeStopped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	run := watchedRun(t, e, `{"watch":{"duration":"10s"}}`)
	got, err := e.svc.StopWatch(context.Background(), run.RunID, "alice@contoso.example", "user confirmed the travel")
	if err != nil {
		t.Fatal(err)
	}
	w := got.Watch
	if w.StoppedBy != "alice@contoso.example" || w.StopReason != "user confirmed the travel" || w.StoppedAt == nil || w.Verdict != runs.WatchNoReturnSeen {
		t.Fatalf("stopped watch: %+v", w)
	}
	e.sim.SetForwarding(e.demo.UPN, "smtp:drop@evil.example", "", true)
	e.checkWatch(run.RunID, 2)
	if after := e.get(run.RunID).Watch; after.Checks != 1 || len(after.Hits) != 0 {
		t.Fatalf("a stopped watch checked again: %+v", after)
	}
	if _, err := e.svc.StopWatch(context.Background(), run.RunID, "bob", ""); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("stop twice: %v", err)
	}
}

// Without options.watch.ips, the addresses the run's investigation attributes to the
// attacker (findings.indicators.ips) are what a sign-in is a hit from.
func TestWatchUsesTheInvestigationsIndicators(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-2",
		Steps: []string{"investigate", "reset-password", "revoke-sessions"}, Options: []byte(`{"watch":{"duration":"10s"}}`)})
	if run.Watch == nil {
		t.Fatalf("not watched: %s", dump(run))
	}
	ips := run.Step("investigate").Findings.Indicators.IPs
	if len(ips) == 0 {
		t.Fatalf("the investigation found no indicator: %s", dump(run))
	}
	e.checkWatch(run.RunID, 1)
	e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Outlook", IP: ips[0]})
	e.checkWatch(run.RunID, 2)
	if w := e.get(run.RunID).Watch; len(w.Hits) != 1 || w.Hits[0].IP != ips[0] || w.Verdict != runs.WatchReturned {
		t.Fatalf("watch: %+v", w)
	}
}

// A run that failed is not watched (the account was not contained: there is nothing to
// prove), nor is a refused one (it never ran).
func TestAFailedRunIsNotWatched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	e.sim.FailNext(10, "revokeSignInSessions", 403)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions"}, Options: []byte(`{"watch":{"duration":"1h"}}`)})
	if run.Status != runs.Failed || run.Watch != nil {
		t.Fatalf("failed run: %s, watch %+v", run.Status, run.Watch)
	}
	e.svc.Config.Protected = []string{e.demo.UPN}
	if _, err := e.svc.Start(context.Background(), remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions"}, Options: []byte(`{"watch":{"duration":"1h"}}`)}); apperr.CodeOf(err) != apperr.Protected {
		t.Fatalf("refused run: %v", err)
	}
	if e.queue.sentTo("watch") {
		t.Fatal("a watch check was sent for a run that is not watched")
	}
}

// Tenants as they are: a user without a mailbox is watched on sign-ins alone (the mailbox is
// not "unavailable", there is none); a sign-in listing throttled past the client's retries
// is read again from the same time at the next check, so the sign-in it hid is still a hit.
func TestWatchOnAUserWithoutAMailboxAndThroughThrottling(t *testing.T) {
	t.Parallel()
	t.Run("no mailbox", func(t *testing.T) {
		t.Parallel()
		e := newEnvSeeded(t, remediation.Config{WatchInterval: 2 * time.Second}, tenantsim.SeedNoMailbox)
		run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"revoke-sessions", "remove-forwarding"},
			Options: []byte(`{"watch":{"duration":"10s","ips":["` + attackerIP + `"]}}`)})
		if run.Watch == nil {
			t.Fatalf("not watched: %s", dump(run))
		}
		e.checkWatch(run.RunID, 1)
		e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Outlook", IP: attackerIP})
		e.checkWatch(run.RunID, 2)
		w := e.get(run.RunID).Watch
		if len(w.Unavailable) != 0 || len(w.Hits) != 1 || w.Hits[0].Kind != "sign-in" {
			t.Fatalf("watch of a user without a mailbox: %+v", w)
		}
	})
	t.Run("throttled sign-ins", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
		run := watchedRun(t, e, `{"watch":{"duration":"10s","ips":["`+attackerIP+`"]}}`)
		e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now(), App: "Outlook", IP: attackerIP})
		// Every attempt of this check's sign-in read is throttled: both listings (the
		// interactive and the non-interactive sign-ins) and the client's one retry of each.
		e.sim.ThrottleNext(4, "auditLogs/signIns", time.Second)
		e.checkWatch(run.RunID, 2)
		if w := e.get(run.RunID).Watch; w.Checks != 2 || len(w.Hits) != 0 || len(w.Unavailable) != 0 {
			t.Fatalf("a throttled check: %+v", w)
		}
		e.checkWatch(run.RunID, 3)
		if w := e.get(run.RunID).Watch; len(w.Hits) != 1 || w.Hits[0].IP != attackerIP {
			t.Fatalf("the sign-in the throttled check missed was not seen at the next: %+v", w)
		}
	})
}
