package remediation

import (
	"context"
	"errors"
	"time"

	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// stuckAfter is how old an unfinished run must be before recovery touches it although none
// of its steps' leases has run out (a sync run whose process died between two steps, a
// step that was never enqueued): well past any step's time budget and a throttled queue's
// usual backlog.
const stuckAfter = 20 * time.Minute

// Recover brings runs that stopped moving to a final status. The recovery timer calls it
// every minute (functions.RecoverTimer), so a run whose step lease ran out (its delivery's
// process died, or its last delivery could not reach the store) moves again within a few
// minutes: the lease (StepTimeout + 30 s) plus at most a minute. A sync run whose process
// died has no message to resume it, and a step whose handler died may have none left
// either: each such run is switched to async and its waiting steps are sent to their queues
// again; the step claims make any duplicate harmless.
func (s *Service) Recover(ctx context.Context) (recovered int, err error) {
	now := s.now()
	stalled, err := s.Store.Stalled(ctx, now, 200)
	if err != nil {
		return 0, err
	}
	old, err := s.Store.Unfinished(ctx, now.Add(-stuckAfter), 200)
	if err != nil {
		return 0, err
	}
	s.recoverWatches(ctx)
	seen := map[string]bool{}
	for _, id := range append(stalled, old...) {
		if seen[id] {
			continue
		}
		seen[id] = true
		ok, err := s.recoverRun(ctx, id)
		if err != nil {
			s.Log.Error("recover run", "runId", id, "err", err)
			continue
		}
		if ok {
			recovered++
		}
	}
	return recovered, nil
}

func (s *Service) recoverRun(ctx context.Context, runID string) (bool, error) {
	run, err := s.Store.Get(ctx, runID)
	if err != nil {
		return false, err
	}
	if run.Tampered != "" {
		// Planted or edited: never sent on. Logged each time the timer meets it, so the alert
		// keeps firing until someone looks.
		s.tampered(run, "recovery")
		return false, nil
	}
	if isFinal(run.Status) {
		return false, nil
	}
	now := s.now()
	if run.Status == runs.AwaitingApproval {
		return false, nil // waiting for a person, not stuck: the approval timer expires it
	}
	// An approved run's steps start at the approval, not at its creation: its age counts
	// from the decision (a step whose lease ran out is recovered whatever the age).
	started := run.CreatedAt
	if d := run.Approval.DecidedAt; d != nil {
		started = *d
	}
	stalled := started.Before(now.Add(-stuckAfter))
	for _, st := range run.Steps {
		switch {
		case st.Status == runs.StepRunning && now.Before(st.LeaseUntil):
			return false, nil // a delivery is working on it right now
		case st.Status == runs.StepRunning:
			stalled = true // its delivery died
		case st.Status == runs.StepPending && st.Enqueued && !st.LeaseUntil.IsZero() && !now.Before(st.LeaseUntil):
			stalled = true // its message (or its deferral's) never came
		}
	}
	if !stalled {
		return false, nil
	}
	if run.Mode != "async" {
		run.Mode = "async"
		if err := s.Store.UpdateRun(ctx, run); err != nil {
			if errors.Is(err, runs.ErrConflict) {
				return false, nil // it moved; look again next time
			}
			return false, err
		}
	}
	// A step left running by a dead handler: its lease has expired, so a new message for it
	// is claimed and the step acts again.
	for _, st := range run.Steps {
		if st.Status == runs.StepRunning {
			if err := s.Queue.Enqueue(ctx, functions.StepQueue(steps.Name(st.Name)), stepMessage(runID, st.Deferrals)); err != nil {
				return false, err
			}
		}
	}
	s.Log.Warn("recovering a run that stopped moving", "runId", runID, "userId", run.User.ID, "status", run.Status)
	return true, s.advance(ctx, runID, true)
}
