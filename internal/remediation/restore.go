package remediation

import (
	"context"
	"errors"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// RestoreAdminRoles re-grants the roles that remove-admin-roles recorded in a run (same
// role, scope and kind) and records what it did on the run. It is idempotent: grants that
// exist already are reported as already_present.
func (s *Service) RestoreAdminRoles(ctx context.Context, runID, requestedBy string) (*runs.Run, error) {
	run, err := s.Get(ctx, runID)
	if err != nil {
		return nil, err
	}
	step := run.Step(string(steps.RemoveAdminRoles))
	switch {
	case step == nil:
		return nil, apperr.New(apperr.Conflict, "run %s has no remove-admin-roles step", runID)
	case run.DryRun:
		return nil, apperr.New(apperr.Conflict, "run %s was a dry run: it removed no roles", runID)
	case !step.Status.Final():
		return nil, apperr.New(apperr.Conflict, "remove-admin-roles of run %s has not finished yet", runID)
	}
	// Grants are about to change: finish and record them even if the caller hangs up.
	ctx = context.WithoutCancel(ctx)
	now := s.now()
	restoration := runs.Restoration{At: now, RequestedBy: requestedBy, Status: "succeeded"}
	changes, err := s.Runner.RestoreAdminRoles(ctx, run.User.ID, step.Changes, "run "+runID)
	restoration.Changes = changes
	if restoration.Changes == nil {
		restoration.Changes = []runs.Change{}
	}
	if err != nil {
		restoration.Status = "failed"
		restoration.Error = steps.Explain("restore-admin-roles", err)
	}
	for attempt := 0; attempt < 20; attempt++ {
		run.Restorations = append(run.Restorations, restoration)
		err := s.Store.UpdateRun(ctx, run)
		if err == nil {
			break
		}
		if !errors.Is(err, runs.ErrConflict) {
			return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
		}
		if run, err = s.Get(ctx, runID); err != nil {
			return nil, err
		}
	}
	for _, c := range changes {
		s.Log.Info("role restored", "runId", runID, "userId", run.User.ID, "action", c.Action, "target", c.Target)
	}
	return run, nil
}
