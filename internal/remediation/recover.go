package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// stuckAfter is how old an unfinished run must be before recovery touches it: well past
// any step's time budget and a throttled queue's usual backlog.
const stuckAfter = 20 * time.Minute

// Recover brings runs that stopped moving to a final status. A sync run whose process died
// has no message to resume it, and a step whose handler died may have none left either; the
// timer calls Recover after each sweep. Each such run is switched to async and its waiting
// steps are sent to their queues again; the step claims make any duplicate harmless.
func (s *Service) Recover(ctx context.Context) (recovered int, err error) {
	ids, err := s.Store.Unfinished(ctx, s.now().Add(-stuckAfter), 200)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
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
	now := s.now()
	if d := run.Approval.DecidedAt; d != nil && now.Sub(*d) < stuckAfter {
		return false, nil // approved a moment ago: its steps are on their way (the run is old, its start is not)
	}
	for _, st := range run.Steps {
		if st.Status == runs.StepRunning && now.Before(st.LeaseUntil) {
			return false, nil // a delivery is working on it right now
		}
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
			msg, _ := json.Marshal(map[string]string{"runId": runID})
			if err := s.Queue.Enqueue(ctx, functions.StepQueue(steps.Name(st.Name)), msg); err != nil {
				return false, err
			}
		}
	}
	s.Log.Warn("recovering a run that stopped moving", "runId", runID, "userId", run.User.ID, "status", run.Status)
	return true, s.advance(ctx, runID, true)
}
