package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// The eviction watch (contract section 1.3). Revoking sessions is not the end: Microsoft
// documents minutes of delay, continuous access evaluation up to 15 minutes, and other
// clients' access tokens valid up to an hour. A run that asked for it (options.watch, or
// WATCH_DEFAULT) keeps watching the account after its steps end: each check reads the
// user's sign-ins since the last one, the mailbox's forwarding and its inbox rules. A
// successful sign-in from an indicator address, forwarding set again, or a new inbox rule
// the classifier flags is a hit: the watch re-contains at once with a new run
// (parentRunId), under the same rate limit, protected accounts and approval as any run.
//
// The watch lives in the run record and is driven by messages on the watch queue, each
// naming the check it is ({"runId", "check"}): a duplicate or stale message finds the check
// done and changes nothing, and the recovery timer sends a lost one again.

// DefaultWatchInterval is WATCH_INTERVAL's default.
const DefaultWatchInterval = 15 * time.Minute

// watchReadTimeout bounds one check's reads.
const watchReadTimeout = 60 * time.Second

type watchMessage struct {
	RunID string `json:"runId"`
	Check int    `json:"check"`
}

func (s *Service) watchInterval() time.Duration {
	if s.Config.WatchInterval > 0 {
		return s.Config.WatchInterval
	}
	return DefaultWatchInterval
}

// watchFor is how long the run's account is watched after its steps end: the run's
// options.watch.duration, else WATCH_DEFAULT for a run that may change the tenant; 0 for a
// dry run (it accepts the option and plans without watching).
func (s *Service) watchFor(run *runs.Run) time.Duration {
	if run.DryRun {
		return 0
	}
	opts := s.decodeOptions(run.Options)
	if d := opts.Watch.WatchDuration(); d > 0 {
		return d
	}
	names := make([]steps.Name, len(run.Steps))
	for i, st := range run.Steps {
		names[i] = steps.Name(st.Name)
	}
	if s.Config.WatchDefault > 0 && mayChange(names) {
		return s.Config.WatchDefault
	}
	return 0
}

// beginWatch sets up the watch of a run that ends with status, in the same write that
// records the status. It reports whether it did: the caller then lists the run as watched
// and sends the first check.
func (s *Service) beginWatch(run *runs.Run, status runs.Status, now time.Time) bool {
	if run.Watch != nil || (status != runs.Succeeded && status != runs.ActionRequired) {
		return false
	}
	d := s.watchFor(run)
	if d <= 0 {
		return false
	}
	run.Watch = &runs.Watch{
		Until: now.Add(d), Interval: s.watchInterval().String(), Verdict: runs.WatchWatching,
		Hits: []runs.WatchHit{}, RecontainRuns: []string{}, Unavailable: []runs.Unavailable{},
		Checked: []string{
			"successful sign-ins of the user, interactive and non-interactive (a token replayed), from " + describeIPs(s.watchIPs(run)),
			"mailbox forwarding set again",
			"inbox rules the classifier flags that were not there when the watch began",
		},
	}
	if sessions := investigationSessions(run); len(sessions) > 0 {
		run.Watch.Checked = slices.Insert(run.Watch.Checked, 1, "successful sign-ins of the user, interactive and non-interactive, from any address in a session the investigation attributes to the attacker: "+strings.Join(sessions, ", "))
	}
	run.WatchBaseline = &runs.WatchBaseline{SignInsReadTo: now}
	return true
}

func describeIPs(ips []string) string {
	if len(ips) == 0 {
		return "an attacker address (none known: give options.watch.ips, or run investigate)"
	}
	return strings.Join(ips, ", ")
}

// watchIPs are the addresses whose successful sign-in is a hit: options.watch.ips and the
// addresses the run's investigation attributes to the attacker.
func (s *Service) watchIPs(run *runs.Run) []string {
	seen := map[string]bool{}
	var out []string
	add := func(ip string) {
		ip = strings.ToLower(strings.TrimSpace(ip))
		if ip != "" && !seen[ip] {
			seen[ip] = true
			out = append(out, ip)
		}
	}
	for _, ip := range s.decodeOptions(run.Options).Watch.IPs {
		add(ip)
	}
	for _, ip := range investigationIPs(run) {
		add(ip)
	}
	sort.Strings(out)
	return out
}

// investigationIPs are findings.indicators.ips of the run's investigate step: the addresses
// the investigation attributes to the attacker.
func investigationIPs(run *runs.Run) []string {
	st := run.Step(string(steps.Investigate))
	if st == nil || st.Findings == nil {
		return nil
	}
	return st.Findings.Indicators.IPs
}

// investigationSessions are findings.indicators.sessionIds of the run's investigate step
// (sealed with the step's findings): the Entra ID sessions the investigation attributes to
// the attacker, trimmed, deduplicated and sorted.
func investigationSessions(run *runs.Run) []string {
	st := run.Step(string(steps.Investigate))
	if st == nil || st.Findings == nil {
		return nil
	}
	var out []string
	for _, id := range st.Findings.Indicators.SessionIDs {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// startWatch lists the run as watched and sends its first check, which also takes the
// baseline (the mailbox as the run left it). A failure is logged: the recovery timer sends
// the check of a listed run; a run that could not be listed is logged as unwatched.
func (s *Service) startWatch(ctx context.Context, run *runs.Run) {
	if err := s.Store.AddWatching(ctx, run.RunID); err != nil {
		s.Log.Error("eviction watch: could not list the run as watched; it is not watched", "runId", run.RunID, "err", err)
		return
	}
	s.Log.Info("eviction watch started", "runId", run.RunID, "userId", run.User.ID, "until", run.Watch.Until, "interval", run.Watch.Interval)
	if err := s.sendWatchCheck(ctx, run.RunID, 1, 0); err != nil {
		s.Log.Error("eviction watch: could not send the first check; the recovery timer sends it", "runId", run.RunID, "err", err)
	}
}

func (s *Service) sendWatchCheck(ctx context.Context, runID string, check int, delay time.Duration) error {
	msg, _ := json.Marshal(watchMessage{RunID: runID, Check: check})
	if delay > 0 {
		if dq, ok := s.Queue.(DelayedQueue); ok {
			return dq.EnqueueAfter(ctx, functions.WatchQueue, msg, delay)
		}
		return nil // no delayed messages (tests): the recovery timer sends the check when due
	}
	return s.Queue.Enqueue(ctx, functions.WatchQueue, msg)
}

// CheckWatch carries out check number check of a run's watch (a watch queue message). A
// message for a check that is done already, or for a watch that has ended, changes nothing.
// It returns an error when the message must be delivered again (the store unreachable).
func (s *Service) CheckWatch(ctx context.Context, runID string, check int) error {
	for attempt := 0; attempt < 5; attempt++ {
		run, err := s.Store.Get(ctx, runID)
		if errors.Is(err, runs.ErrNotFound) {
			s.Log.Error("watch message for an unknown run dropped", "runId", runID)
			return nil
		}
		if err != nil {
			return err
		}
		if run.Tampered != "" {
			s.tampered(run, "watch")
			return nil
		}
		w := run.Watch
		if w == nil || run.WatchBaseline == nil || run.WatchBaseline.Ended || check != w.Checks+1 {
			return nil // not watched, ended, or this check is done (a duplicate or stale message)
		}
		next, err := s.check(ctx, run, check)
		if errors.Is(err, runs.ErrConflict) {
			continue // another delivery wrote the run meanwhile: look again
		}
		if err != nil {
			return err
		}
		if run.WatchBaseline.Ended {
			if err := s.Store.DropWatching(ctx, runID); err != nil {
				s.Log.Warn("eviction watch: could not unlist an ended watch", "runId", runID, "err", err)
			}
			s.Log.Info("eviction watch ended", "runId", runID, "userId", run.User.ID, "verdict", w.Verdict, "checks", w.Checks, "hits", len(w.Hits))
			return nil
		}
		if err := s.sendWatchCheck(ctx, runID, check+1, next); err != nil {
			s.Log.Error("eviction watch: could not send the next check; the recovery timer sends it", "runId", runID, "err", err)
		}
		return nil
	}
	return fmt.Errorf("watch check %d of run %s: %w", check, runID, runs.ErrConflict)
}

// check reads the account, records the hits, re-contains when the attacker came back, and
// writes the watch. It answers when the next check is due.
func (s *Service) check(ctx context.Context, run *runs.Run, check int) (time.Duration, error) {
	w, b := run.Watch, run.WatchBaseline
	now := s.now()
	rctx, cancel := context.WithTimeout(ctx, watchReadTimeout)
	obs := s.Runner.Observe(rctx, steps.Target{ID: run.User.ID, UPN: run.User.UserPrincipalName, Mail: run.User.Mail}, b.SignInsReadTo)
	cancel()

	var hits []runs.WatchHit
	unavailable := map[string]string{}
	for _, u := range w.Unavailable {
		unavailable[u.Source] = u.Reason
	}
	// Sign-ins: a successful one, interactive or not, from an indicator address or in a
	// session the investigation attributes to the attacker. The user's own sign-ins from
	// elsewhere after the reset are not hits.
	switch err := obs.SignInsErr; {
	case err == nil:
		ips, sessions := map[string]bool{}, map[string]bool{}
		for _, ip := range s.watchIPs(run) {
			ips[ip] = true
		}
		for _, id := range investigationSessions(run) {
			sessions[strings.ToLower(id)] = true
		}
		for _, si := range steps.SuccessfulFrom(obs.SignIns, ips, sessions) {
			if slices.Contains(b.SeenSignInIDs, si.ID) {
				continue
			}
			b.SeenSignInIDs = append(b.SeenSignInIDs, si.ID)
			hits = append(hits, runs.WatchHit{Time: si.Time, Kind: "sign-in", IP: si.IP, Detail: signInHitDetail(si, ips, sessions)})
		}
		delete(unavailable, "sign-ins")
		switch nerr := obs.NonInteractiveErr; {
		case nerr != nil && !permanentRefusal(nerr):
			// The interactive sign-ins were read, the non-interactive ones stopped short in
			// a way that may pass: the next check reads both again from the same time (a
			// sign-in seen now is not a hit twice).
			s.Log.Warn("eviction watch: non-interactive sign-ins could not be read this time; the next check reads from the same time", "runId", run.RunID, "err", nerr)
		default:
			if obs.NonInteractiveGap != "" {
				w.Notes = noteGap(w.Notes, check, b.SignInsReadTo, now, obs.NonInteractiveGap)
			}
			b.SignInsReadTo = now
		}
	case permanentRefusal(err):
		unavailable["sign-ins"] = "the sign-in logs cannot be read (" + steps.Explain("read sign-ins", err).Message + "); sign-ins from an attacker address would not be seen"
	default:
		s.Log.Warn("eviction watch: sign-ins could not be read this time; the next check reads from the same time", "runId", run.RunID, "err", err)
	}
	// The mailbox: forwarding set again, and new flagged inbox rules, against the baseline
	// taken at the first check that could read them.
	var forwarding, rules bool
	switch {
	case obs.NoMailbox:
		delete(unavailable, "mailbox")
	case obs.ForwardingErr != nil && permanentRefusal(obs.ForwardingErr):
		unavailable["mailbox"] = "the mailbox cannot be read (" + steps.Explain("read the mailbox", obs.ForwardingErr).Message + ")"
	case obs.ForwardingErr == nil:
		delete(unavailable, "mailbox")
		if !b.ForwardingTaken {
			b.Forwarding, b.ForwardingTaken = obs.Forwarding, true
		} else if obs.Forwarding != "" && !strings.EqualFold(obs.Forwarding, b.Forwarding) {
			hits = append(hits, runs.WatchHit{Time: now, Kind: "forwarding", Detail: "mailbox forwarding set again, to " + obs.Forwarding})
			b.Forwarding = obs.Forwarding
			forwarding = true
		}
	}
	if obs.RulesErr == nil && obs.Flagged != nil {
		if !b.RulesTaken {
			b.Rules, b.RulesTaken = sortedKeys(obs.Flagged), true
		} else {
			for _, id := range sortedKeys(obs.Flagged) {
				if slices.Contains(b.Rules, id) {
					continue
				}
				b.Rules = append(b.Rules, id)
				hits = append(hits, runs.WatchHit{Time: now, Kind: "inbox-rule", Detail: "new inbox rule " + id + ": " + strings.Join(obs.Flagged[id], "; ")})
				rules = true
			}
		}
	}

	if len(hits) > 0 {
		id, err := s.recontain(ctx, run, check, hits, forwarding, rules)
		if err != nil {
			return 0, err
		}
		if id != "" && !slices.Contains(w.RecontainRuns, id) {
			w.RecontainRuns = append(w.RecontainRuns, id)
		}
		w.Hits = append(w.Hits, hits...)
	}
	w.Checks = check
	w.LastCheckAt = &now
	w.Unavailable = w.Unavailable[:0]
	for _, source := range sortedKeys(unavailable) {
		w.Unavailable = append(w.Unavailable, runs.Unavailable{Source: source, Reason: unavailable[source]})
	}
	if len(w.Hits) > 0 {
		w.Verdict = runs.WatchReturned
	}
	next := min(s.watchInterval(), w.Until.Sub(now))
	if !now.Before(w.Until) {
		b.Ended = true
		if len(w.Hits) == 0 {
			w.Verdict = runs.WatchNoReturnSeen
		}
	}
	if err := s.Store.UpdateRun(ctx, run); err != nil {
		return 0, err
	}
	return max(next, time.Second), nil
}

// maxReason is the longest reason Start takes.
const maxReason = 2000

// recontainReason is the reason of a re-containing run: the watched run and what came back,
// cut to the length Start takes. The hits name what the attacker made (an inbox rule's name),
// so they can be as long and as many as the attacker likes; a reason over the limit would
// have the re-containing run refused. The watched run's watch lists every hit in full.
func recontainReason(runID string, what []string) string {
	reason := fmt.Sprintf("eviction watch of run %s: %s", runID, strings.Join(what, "; "))
	if len(reason) <= maxReason {
		return reason
	}
	more := fmt.Sprintf(" … (%d hits in all: see the watch of run %s)", len(what), runID)
	cut := maxReason - len(more)
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + more
}

// recontain starts the run that throws the attacker out again: revoke-sessions, and the
// removal of what came back. Its idempotency key is the watched run and the check, so a
// redelivered check finds the run its first delivery started. It answers the new run's id
// ("" when the start was refused for good, which is logged).
func (s *Service) recontain(ctx context.Context, run *runs.Run, check int, hits []runs.WatchHit, forwarding, rules bool) (string, error) {
	names := []string{string(steps.RevokeSessions)}
	if forwarding {
		names = append(names, string(steps.RemoveForwarding))
	}
	if rules {
		names = append(names, string(steps.RemoveInboxRules))
	}
	what := make([]string, len(hits))
	for i, h := range hits {
		what[i] = h.Detail
	}
	s.Log.Error("eviction watch: the attacker returned; re-containing", logevent.Attr(logevent.AttackerReturned), "runId", run.RunID, "userId", run.User.ID, "check", check, "hits", what)
	started, err := s.Start(ctx, StartRequest{
		User: run.User.ID, Steps: names, Mode: "async", FromQueue: true,
		Reason:         recontainReason(run.RunID, what),
		RequestedBy:    "watch:" + run.RunID,
		IdempotencyKey: "watch:" + run.RunID + ":" + strconv.Itoa(check),
		ParentRunID:    run.RunID,
	})
	if err == nil {
		return started.Run.RunID, nil
	}
	switch apperr.CodeOf(err) {
	case apperr.Unavailable, apperr.Upstream:
		return "", err // the delivery is tried again; the key finds the run if it was recorded
	}
	// Refused for good (a protected account, the hourly limit): the hit stays recorded and
	// the error is the alert; the next check sees the attacker again if still there.
	s.Log.Error("eviction watch: the re-containing run was refused", "runId", run.RunID, "userId", run.User.ID, "err", err)
	return "", nil
}

// permanentRefusal reports a read the service refused for good (a permission, a licence),
// which the watch names unavailable, as opposed to a failure that may pass.
func permanentRefusal(err error) bool {
	var ge *graph.Error
	if errors.As(err, &ge) {
		return ge.Status == http.StatusForbidden || ge.Status == http.StatusUnauthorized || ge.Status == http.StatusBadRequest
	}
	var xe *exchange.Error
	if errors.As(err, &xe) {
		return xe.Status == http.StatusForbidden || xe.Status == http.StatusUnauthorized
	}
	return false
}

// nonInteractiveNote starts the watch's note on non-interactive sign-ins it could not read
// (beta refused, or cut at the page cap).
const nonInteractiveNote = "non-interactive sign-ins: "

// noteGap records that a check did not read every non-interactive sign-in, once: the
// first such check's note stays while the watch lasts (those minutes stay unread whatever
// later checks read), and later gaps do not add to it. It is a note, not an unavailable
// source: the sign-in source answered (contract 1.3 keeps unavailable for the sources the
// tenant does not allow).
func noteGap(notes []string, check int, from, to time.Time, why string) []string {
	for _, n := range notes {
		if strings.HasPrefix(n, nonInteractiveNote) {
			return notes
		}
	}
	return append(notes, fmt.Sprintf(nonInteractiveNote+"not every one was read, first at check %d (sign-ins from %s to %s): %s; a token replayed (refresh token, session cookie) from an attacker address or in an attacker session then would not be seen",
		check, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), why))
}

// signInHitDetail says what made a sign-in a hit.
func signInHitDetail(si graph.SignIn, ips, sessions map[string]bool) string {
	kind := "successful sign-in"
	if si.NonInteractive {
		kind = "successful non-interactive sign-in (a token replayed)"
	}
	var why []string
	if ips[strings.ToLower(strings.TrimSpace(si.IP))] {
		why = append(why, "from "+orDash(si.IP)+" (an attacker address)")
	} else {
		why = append(why, "from "+orDash(si.IP))
	}
	if si.SessionID != "" && sessions[strings.ToLower(strings.TrimSpace(si.SessionID))] {
		why = append(why, "in session "+si.SessionID+" (an attacker session)")
	}
	return kind + " " + strings.Join(why, " ") + " to " + orDash(si.App)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// recoverWatches sends again the check of every watch whose next check is overdue (its
// message was lost, or the queue cannot delay messages), and unlists ended ones.
func (s *Service) recoverWatches(ctx context.Context) {
	ids, err := s.Store.Watching(ctx, 200)
	if err != nil {
		s.Log.Error("eviction watch: list watched runs", "err", err)
		return
	}
	now := s.now()
	for _, id := range ids {
		run, err := s.Store.Get(ctx, id)
		if errors.Is(err, runs.ErrNotFound) {
			_ = s.Store.DropWatching(ctx, id)
			continue
		}
		if err != nil {
			continue
		}
		if run.Tampered != "" || run.Watch == nil || run.WatchBaseline == nil || run.WatchBaseline.Ended {
			_ = s.Store.DropWatching(ctx, id)
			continue
		}
		w := run.Watch
		last := w.Until.Add(-1) // never checked: due at once
		if w.LastCheckAt != nil {
			last = *w.LastCheckAt
		} else if run.FinishedAt != nil {
			last = *run.FinishedAt
		}
		due := last.Add(w.IntervalDuration())
		if w.Until.Before(due) {
			due = w.Until
		}
		if w.Checks == 0 || now.After(due.Add(time.Minute)) {
			if err := s.sendWatchCheck(ctx, id, w.Checks+1, 0); err != nil {
				s.Log.Error("eviction watch: could not send an overdue check", "runId", id, "err", err)
			}
		}
	}
}

// StopWatch ends a run's eviction watch before its time (POST
// /api/remediations/{runId}/watch/stop), recording who stopped it and why. The verdict
// stays what the checks so far found; a watch that saw nothing ends no_return_seen for the
// checks it made. 409 when the run has no watch or it has ended.
func (s *Service) StopWatch(ctx context.Context, runID, by, reason string) (*runs.Run, error) {
	if len(reason) > 2000 {
		return nil, apperr.New(apperr.Invalid, "reason is longer than 2000 characters")
	}
	ctx = context.WithoutCancel(ctx)
	for attempt := 0; attempt < 20; attempt++ {
		run, err := s.Get(ctx, runID)
		if err != nil {
			return nil, err
		}
		if run.Tampered != "" {
			return nil, s.tampered(run, "stop watch")
		}
		if run.Watch == nil || run.WatchBaseline == nil {
			return nil, apperr.New(apperr.Conflict, "run %s has no eviction watch", runID)
		}
		if run.WatchBaseline.Ended {
			return nil, apperr.New(apperr.Conflict, "the eviction watch of run %s has ended (%s)", runID, run.Watch.Verdict)
		}
		now := s.now()
		w := run.Watch
		w.StoppedBy, w.StoppedAt, w.StopReason = by, &now, strings.TrimSpace(reason)
		if len(w.Hits) == 0 {
			w.Verdict = runs.WatchNoReturnSeen
		}
		run.WatchBaseline.Ended = true
		switch err := s.Store.UpdateRun(ctx, run); {
		case errors.Is(err, runs.ErrConflict):
			continue
		case err != nil:
			return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
		}
		if err := s.Store.DropWatching(ctx, runID); err != nil {
			s.Log.Warn("eviction watch: could not unlist a stopped watch", "runId", runID, "err", err)
		}
		s.Log.Warn("eviction watch stopped by a person", "runId", runID, "userId", run.User.ID, "stoppedBy", by, "reason", w.StopReason, "checks", w.Checks)
		return s.Get(ctx, runID)
	}
	return nil, apperr.Wrap(apperr.Unavailable, runs.ErrConflict, "the run changed too often; try again")
}
