package remediation

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// Statuses of a restoration that waits for a second person.
const (
	restoreAwaiting = "awaiting_approval"
	restoreRejected = "rejected"
	restoreExpired  = "expired"
)

// restoreApprovalWhy says why a restore waits for approval, or "" when it does not: under
// APPROVAL_MODE admins or all, a restore with an item that would grant a directory role
// (remove-admin-roles) or an Exchange role group (remove-exchange-role-groups) waits. The
// victim's sign-in, mail protocols, delegates and consents grant no privilege, so they do
// not wait.
func (s *Service) restoreApprovalWhy(candidates []restoreCandidate) string {
	mode := s.Config.ApprovalMode
	if mode != ApprovalAdmins && mode != ApprovalAll {
		return ""
	}
	var what []string
	for _, c := range candidates {
		if c.item.Result == "failed" {
			continue // refused already: it grants nothing
		}
		if c.step == steps.RemoveAdminRoles || c.step == steps.RemoveExchangeRoleGroups {
			what = append(what, c.item.Target)
		}
	}
	if len(what) == 0 {
		return ""
	}
	return "APPROVAL_MODE=" + mode + ": the restore grants privilege back (" + strings.Join(what, "; ") + ")"
}

// awaitRestoreApproval records the restore as a restoration awaiting approval, with its
// request sealed, and grants nothing.
func (s *Service) awaitRestoreApproval(ctx context.Context, run *runs.Run, req RestoreRequest, candidates []restoreCandidate, why string) (*Restored, error) {
	ctx = context.WithoutCancel(ctx)
	expires := s.now().Add(s.approvalTimeout())
	r := runs.Restoration{
		ID: newRestorationID(), At: s.now(), RequestedBy: req.RequestedBy, RequesterID: req.RequesterID, Status: restoreAwaiting,
		Force: req.Force, Reason: req.Reason, Steps: req.Steps, Changes: []runs.Change{}, Items: []runs.RestoreItem{},
		Approval: &runs.Approval{Required: true, Why: why, ExpiresAt: &expires},
	}
	for _, c := range candidates {
		it := c.item
		if it.Result != "failed" {
			it.Result = restoreAwaiting
		}
		r.Items = append(r.Items, it)
	}
	seal, err := s.requestSeal(run, r)
	if err != nil {
		return nil, apperr.Wrap(apperr.Internal, err, "could not seal the restore request")
	}
	r.Seal = seal
	saved, err := s.saveRestoration(ctx, run.RunID, r)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable: the restore was not recorded, so nothing was granted")
	}
	s.Log.Warn("restore awaits approval", "runId", run.RunID, "userId", run.User.ID, "restorationId", r.ID, "requestedBy", req.RequestedBy, "why", why, "expiresAt", expires)
	return &Restored{Run: saved, RunID: run.RunID, Items: r.Items, RestorationID: r.ID, Status: r.Status}, nil
}

// requestSeal seals what a waiting restoration asks for: its id, time, requester, steps,
// force and reason, and when it expires. The items are not sealed: they are derived again
// from the run's sealed changes when it is carried out.
func (s *Service) requestSeal(run *runs.Run, r runs.Restoration) (string, error) {
	var expires string
	if r.Approval != nil && r.Approval.ExpiresAt != nil {
		expires = r.Approval.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	steps := r.Steps
	if steps == nil {
		steps = []string{}
	}
	// A seal of its own kind: the step and action are "restore" and "request", which no
	// change of a step carries, so a request's seal never vouches for a change or back.
	return s.seal(run.RunID, run.User.ID, "restore", runs.Change{Action: "request", Target: r.ID, Restore: map[string]any{
		"kind": "restore-request", "id": r.ID, "at": r.At.UTC().Format(time.RFC3339Nano), "requestedBy": r.RequestedBy,
		"requesterId": r.RequesterID, "steps": steps, "force": r.Force, "reason": r.Reason, "expiresAt": expires,
	}})
}

// DecideRestoreRequest approves or rejects a restoration that awaits approval.
type DecideRestoreRequest struct {
	RunID         string
	RestorationID string
	Approve       bool
	Reason        string
	By            Principal
}

// DecideRestoration approves or rejects a restoration that awaits approval (POST
// /api/remediations/{runId}/approve or /reject with {"restorationId"}). Approval carries it
// out at once, as the requester asked (steps, force and reason), under the same rules as any
// restore: the account must be secured unless forced, every item must verify against its
// seal, and it takes a slot of the hourly restore budget. The approver must not be the
// requester (403 same_principal); a restoration that is not waiting answers 409
// not_awaiting_approval, one past APPROVAL_TIMEOUT ends expired.
func (s *Service) DecideRestoration(ctx context.Context, req DecideRestoreRequest) (*Restored, error) {
	if len(req.Reason) > 2000 {
		return nil, apperr.New(apperr.Invalid, "reason is longer than 2000 characters")
	}
	if !validRestorationID(req.RestorationID) {
		return nil, apperr.New(apperr.Invalid, "restorationId %q is not a restoration id (16 hexadecimal characters, from the restore's answer)", req.RestorationID)
	}
	verb := "approve"
	if !req.Approve {
		verb = "reject"
	}
	ctx = context.WithoutCancel(ctx)
	run, err := s.Get(ctx, req.RunID)
	if err != nil {
		return nil, err
	}
	if run.Tampered != "" {
		return nil, s.tampered(run, verb+" a restore")
	}
	var r *runs.Restoration
	for i := range run.Restorations {
		if run.Restorations[i].ID == req.RestorationID {
			r = &run.Restorations[i]
		}
	}
	if r == nil {
		return nil, apperr.New(apperr.NotFound, "run %s has no restoration %q", run.RunID, req.RestorationID)
	}
	if r.Status != restoreAwaiting || r.Approval == nil {
		return nil, restoreNotAwaiting(run.RunID, r)
	}
	if want, err := s.requestSeal(run, *r); err != nil || !hmac.Equal([]byte(want), []byte(r.Seal)) {
		s.Log.Error("a restoration awaiting approval does not verify against its seal; refused", "runId", run.RunID, "restorationId", r.ID)
		return nil, apperr.New(apperr.RecordTampered, "restoration %s of run %s does not match its seal: it was written or altered in the run-record store, or sealed under another TOURNIQUET_RECORD_KEY; nothing was granted", r.ID, run.RunID)
	}
	if req.By.Checked && samePrincipal(&runs.Run{RequestedBy: r.RequestedBy, RequesterID: r.RequesterID}, req.By) {
		s.Log.Warn("restore approval refused: the approver is the requester", "runId", run.RunID, "restorationId", r.ID, "principalId", req.By.ID, "decision", verb)
		return nil, apperr.New(apperr.SamePrincipal, "%s requested restoration %s of run %s and cannot %s it: a second person must decide (four eyes)", r.RequestedBy, r.ID, run.RunID, verb)
	}
	now := s.now()
	decision := *r.Approval
	decision.DecidedBy, decision.DecidedAt, decision.Reason = req.By.Name, &now, req.Reason
	if r.Approval.ExpiresAt != nil && !now.Before(*r.Approval.ExpiresAt) {
		decision.DecidedBy, decision.Decision = "", runs.DecisionExpired
		decision.Reason = "no decision within APPROVAL_TIMEOUT (until " + r.Approval.ExpiresAt.Format(time.RFC3339) + ")"
		if err := s.endRestoration(ctx, run.RunID, r.ID, restoreExpired, decision); err != nil {
			return nil, err
		}
		return nil, apperr.New(apperr.NotAwaiting, "restoration %s of run %s expired without a decision at %s; ask for the restore again", r.ID, run.RunID, r.Approval.ExpiresAt.Format(time.RFC3339))
	}
	if !req.Approve {
		decision.Decision = runs.DecisionRejected
		if err := s.endRestoration(ctx, run.RunID, r.ID, restoreRejected, decision); err != nil {
			return nil, err
		}
		s.Log.Info("restore rejected", "runId", run.RunID, "restorationId", r.ID, "decidedBy", req.By.Name, "requestedBy", r.RequestedBy)
		after, err := s.Get(ctx, run.RunID)
		if err != nil {
			return nil, err
		}
		for _, ar := range after.Restorations {
			if ar.ID == r.ID {
				return &Restored{Run: after, RunID: run.RunID, Items: ar.Items, RestorationID: ar.ID, Status: ar.Status}, nil
			}
		}
		return nil, apperr.New(apperr.Internal, "restoration %s vanished from run %s", r.ID, run.RunID)
	}
	decision.Decision = runs.Approved
	approved := *r
	approved.Approval = &decision
	s.Log.Info("restore approved", "runId", run.RunID, "restorationId", r.ID, "decidedBy", req.By.Name, "requestedBy", r.RequestedBy)
	return s.restore(ctx, run, RestoreRequest{RunID: run.RunID, Steps: r.Steps, Force: r.Force, Reason: r.Reason,
		RequestedBy: r.RequestedBy, RequesterID: r.RequesterID, approved: &approved})
}

// endRestoration ends a waiting restoration rejected or expired, nothing granted.
func (s *Service) endRestoration(ctx context.Context, runID, id, status string, decision runs.Approval) error {
	return s.claimRestoration(ctx, runID, id, func(r *runs.Restoration) {
		r.Status, r.Approval = status, &decision
		for i := range r.Items {
			if r.Items[i].Result == restoreAwaiting {
				r.Items[i].Result = status
			}
		}
	})
}

// claimRestoration changes the restoration id of a run only while it still awaits approval,
// with an ETag-guarded write: of two decisions at once, the first wins and the other is
// refused 409 not_awaiting_approval.
func (s *Service) claimRestoration(ctx context.Context, runID, id string, change func(*runs.Restoration)) error {
	for attempt := 0; attempt < 20; attempt++ {
		run, err := s.Store.Get(ctx, runID)
		if err != nil {
			return err
		}
		var r *runs.Restoration
		for i := range run.Restorations {
			if run.Restorations[i].ID == id {
				r = &run.Restorations[i]
			}
		}
		if r == nil || r.Status != restoreAwaiting {
			return restoreNotAwaiting(runID, r)
		}
		change(r)
		err = s.Store.UpdateRun(ctx, run)
		if err == nil {
			return nil
		}
		if !errors.Is(err, runs.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("decide restoration %s of run %s: %w", id, runID, runs.ErrConflict)
}

func restoreNotAwaiting(runID string, r *runs.Restoration) error {
	switch {
	case r == nil:
		return apperr.New(apperr.NotFound, "run %s has no such restoration", runID)
	case r.Approval == nil:
		return apperr.New(apperr.NotAwaiting, "restoration %s of run %s did not need approval (status %s)", r.ID, runID, r.Status)
	case r.Approval.DecidedAt != nil:
		return apperr.New(apperr.NotAwaiting, "restoration %s of run %s was already %s by %s at %s (status %s)", r.ID, runID, r.Approval.Decision, orSomeone(r.Approval.DecidedBy), r.Approval.DecidedAt.Format(time.RFC3339), r.Status)
	}
	return apperr.New(apperr.NotAwaiting, "restoration %s of run %s is not awaiting approval (status %s)", r.ID, runID, r.Status)
}

// validRestorationID reports whether id has the shape newRestorationID gives.
func validRestorationID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
