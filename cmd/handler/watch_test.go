package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/runs"
)

// The eviction watch through the real handler and host: checks come through the watch
// queue every WATCH_INTERVAL; forwarding set again after the run is a hit that starts a
// re-containing run at once, and the watch ends with its verdict after its duration.
func TestEvictionWatchThroughTheHost(t *testing.T) {
	t.Parallel()
	s := startStack(t, "WATCH_INTERVAL=2s")
	r := call(t, s.host, "POST", "/api/remediations", map[string]any{
		"user": s.demo.UPN, "mode": "sync", "reason": "INC-77",
		"steps":   []string{"reset-password", "revoke-sessions", "remove-forwarding", "remove-inbox-rules"},
		"options": map[string]any{"watch": map[string]any{"duration": "12s", "ips": []string{"203.0.113.66"}}},
	})
	var run runs.Run
	r.json(t, &run)
	if r.status != 200 || run.Status != runs.Succeeded || run.Watch == nil || run.Watch.Verdict != runs.WatchWatching {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	// Wait for the baseline check, then the attacker sets forwarding again.
	waitFor(t, 20*time.Second, func() bool {
		call(t, s.host, "GET", "/api/remediations/"+run.RunID, nil).json(t, &run)
		return run.Watch.Checks >= 1
	})
	s.sim.SetForwarding(s.demo.UPN, "smtp:back@evil.example", "", true)
	waitFor(t, 40*time.Second, func() bool {
		call(t, s.host, "GET", "/api/remediations/"+run.RunID, nil).json(t, &run)
		return run.Watch.Verdict == runs.WatchReturned && run.Watch.LastCheckAt != nil && !run.Watch.LastCheckAt.Before(run.Watch.Until)
	})
	w := run.Watch
	if len(w.Hits) != 1 || w.Hits[0].Kind != "forwarding" || len(w.RecontainRuns) != 1 || w.Checks < 3 {
		t.Fatalf("watch: %+v", w)
	}
	var re runs.Run
	waitFor(t, 30*time.Second, func() bool {
		call(t, s.host, "GET", "/api/remediations/"+w.RecontainRuns[0], nil).json(t, &re)
		return re.Status == runs.Succeeded
	})
	if re.ParentRunID != run.RunID || s.sim.Mailbox(s.demo.UPN).ForwardingSmtpAddress != "" {
		t.Fatalf("re-containing run %s (parent %q); forwarding now %q", re.Status, re.ParentRunID, s.sim.Mailbox(s.demo.UPN).ForwardingSmtpAddress)
	}
	if !strings.Contains(s.output.String(), "the attacker returned") {
		t.Error("the handler logged no error an alert rule can fire on")
	}
}

func waitFor(t *testing.T, limit time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("not done within %s", limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// A restart of the handler (and of the host) in the middle of a watch loses nothing and
// doubles nothing: the watch lives in the run record and its checks are queue messages.
func TestEvictionWatchSurvivesARestart(t *testing.T) {
	t.Parallel()
	s := startStack(t, "WATCH_INTERVAL=2s")
	r := call(t, s.host, "POST", "/api/remediations", map[string]any{
		"user": s.demo.UPN, "mode": "sync", "steps": []string{"revoke-sessions", "remove-forwarding"},
		"options": map[string]any{"watch": map[string]any{"duration": "12s"}},
	})
	var run runs.Run
	r.json(t, &run)
	if r.status != 200 || run.Watch == nil {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	waitFor(t, 20*time.Second, func() bool {
		call(t, s.host, "GET", "/api/remediations/"+run.RunID, nil).json(t, &run)
		return run.Watch.Checks >= 1
	})
	if err := s.host.Stop(); err != nil {
		t.Fatal(err)
	}
	s.sim.SetForwarding(s.demo.UPN, "smtp:while-down@evil.example", "", true)
	s.host = s.startHost("WATCH_INTERVAL=2s")
	waitFor(t, 90*time.Second, func() bool {
		call(t, s.host, "GET", "/api/remediations/"+run.RunID, nil).json(t, &run)
		return run.Watch.LastCheckAt != nil && !run.Watch.LastCheckAt.Before(run.Watch.Until)
	})
	w := run.Watch
	if w.Verdict != runs.WatchReturned || len(w.Hits) != 1 || len(w.RecontainRuns) != 1 {
		t.Fatalf("after the restart: %+v", w)
	}
}
