package remediation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// RestoreRequest asks to undo the reversible changes of a run. Restore is the one action of
// Tourniquet that grants privilege, so it is refused until the account is secured, unless a
// person forces it and says why.
type RestoreRequest struct {
	RunID       string
	Steps       []string // exactly these steps' changes; when empty, the reversible steps that gave the victim's own access back (not delegates or consents)
	Force       bool     // restore before the account is secured
	Reason      string   // required with Force, recorded in the run
	RequestedBy string
	RequesterID string // the requester's principal id (easyauth), for the four-eyes rule

	// approved is the waiting restoration a second person approved (restoreapproval.go):
	// it is carried out under its own id, without asking for approval again.
	approved *runs.Restoration
}

// Restored is the answer of a restore: the run as recorded afterwards and each item's result.
type Restored struct {
	Run   *runs.Run          `json:"-"`
	RunID string             `json:"runId"`
	Items []runs.RestoreItem `json:"items"`
	// RestorationID names the restoration recorded in the run (approve or reject it by this
	// id when it awaits approval).
	RestorationID string `json:"restorationId,omitempty"`
	// Status is the restoration's: succeeded, failed, awaiting_approval (nothing granted
	// yet), rejected or expired.
	Status string `json:"status,omitempty"`
}

// Waiting reports whether the restore was recorded awaiting approval, nothing granted.
func (r *Restored) Waiting() bool { return r != nil && r.Status == restoreAwaiting }

// reversible lists the steps whose recorded changes a restore can undo: the catalog's
// reversible steps, in run-document order.
var reversible = func() []steps.Name {
	var out []steps.Name
	for _, s := range catalog.Steps {
		if s.Reversible {
			out = append(out, s.Name)
		}
	}
	return out
}()

// RestoreAdminRoles re-grants the roles that remove-admin-roles recorded in a run (same
// role, scope and kind) and records what it did on the run. It is idempotent: grants that
// exist already are reported as already_present. It answers 409 when the run has no
// finished remove-admin-roles step to restore.
func (s *Service) RestoreAdminRoles(ctx context.Context, req RestoreRequest) (*Restored, error) {
	if err := checkRestoreRequest(&req); err != nil {
		return nil, err
	}
	run, err := s.Get(ctx, req.RunID)
	if err != nil {
		return nil, err
	}
	step := run.Step(string(steps.RemoveAdminRoles))
	switch {
	case step == nil:
		return nil, apperr.New(apperr.Conflict, "run %s has no remove-admin-roles step", req.RunID)
	case run.DryRun:
		return nil, apperr.New(apperr.Conflict, "run %s was a dry run: it removed no roles", req.RunID)
	case !step.Status.Final():
		return nil, apperr.New(apperr.Conflict, "remove-admin-roles of run %s has not finished yet", req.RunID)
	}
	req.Steps = []string{string(steps.RemoveAdminRoles)}
	return s.restore(ctx, run, req)
}

// Restore undoes the reversible changes of a run that took the victim's own access away
// (or exactly those of req.Steps, delegates and consents included when named). Idempotent.
func (s *Service) Restore(ctx context.Context, req RestoreRequest) (*Restored, error) {
	if err := checkRestoreRequest(&req); err != nil {
		return nil, err
	}
	run, err := s.Get(ctx, req.RunID)
	if err != nil {
		return nil, err
	}
	for _, name := range wantedSteps(req.Steps) {
		if st := run.Step(string(name)); st != nil && !run.DryRun && !st.Status.Final() {
			return nil, apperr.New(apperr.Conflict, "%s of run %s has not finished yet", name, req.RunID)
		}
	}
	return s.restore(ctx, run, req)
}

func checkRestoreRequest(req *RestoreRequest) error {
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Force && req.Reason == "" {
		return apperr.New(apperr.Invalid, "force needs a reason: say why the roles must come back before the account is secured")
	}
	if len(req.Reason) > 2000 {
		return apperr.New(apperr.Invalid, "reason is longer than 2000 characters")
	}
	for _, raw := range req.Steps {
		if _, ok := catalog.Parse(raw); !ok {
			return apperr.New(apperr.Invalid, "unknown step %q; steps are %v", raw, steps.All)
		}
	}
	return nil
}

// wantedSteps returns the reversible steps among names. When names is empty it returns
// those that gave the victim's own access back (roles, sign-in, protocols, role groups):
// a delegate or an app consent may be the attacker's, so it comes back only when named
// (contract section 2). Within block-sign-in, the devices it disabled (registered in the
// look-back window, so likely the attacker's) come back only when the step is named too
// (steps.RestoreOnlyWhenNamed).
func wantedSteps(names []string) []steps.Name {
	var out []steps.Name
	for _, r := range reversible {
		if len(names) == 0 {
			if entry, _ := catalog.Lookup(r); !entry.RestoreWhenNamed {
				out = append(out, r)
			}
			continue
		}
		for _, n := range names {
			if n == string(r) {
				out = append(out, r)
			}
		}
	}
	return out
}

type restoreCandidate struct {
	step   steps.Name
	change runs.Change
	item   runs.RestoreItem
}

func (s *Service) restore(ctx context.Context, run *runs.Run, req RestoreRequest) (*Restored, error) {
	if run.Tampered != "" {
		return s.refuseTamperedRestore(run, req)
	}
	if !req.Force {
		secured, err := s.securedSince(ctx, run)
		if err != nil {
			return nil, err
		}
		if !secured {
			return nil, apperr.New(apperr.NotSecured, "the account of run %s is not secured yet: restore grants privilege back only after reset-password (or block-sign-in) and revoke-sessions have succeeded for %s, in this run or a later one; to restore anyway send {\"force\": true, \"reason\": \"...\"}", run.RunID, run.User.UserPrincipalName)
		}
	}

	// Every item is checked against its seal before anything is granted.
	var candidates []restoreCandidate
	if !run.DryRun {
		for _, name := range wantedSteps(req.Steps) {
			st := run.Step(string(name))
			if st == nil {
				continue
			}
			for _, c := range st.Changes {
				if c.Restore == nil || len(req.Steps) == 0 && steps.RestoreOnlyWhenNamed(c) {
					continue
				}
				cand := restoreCandidate{step: name, change: c, item: runs.RestoreItem{Step: string(name), Target: c.Target, Result: "pending"}}
				if err := s.verifySeal(run.RunID, run.User.ID, string(name), c); err != nil {
					cand.item.Result, cand.item.Error = "failed", &runs.Error{Code: string(apperr.RecordTampered), Message: err.Error()}
					s.Log.Error("restore refused an item whose record does not verify", "runId", run.RunID, "userId", run.User.ID, "target", c.Target, "err", err)
				}
				candidates = append(candidates, cand)
			}
		}
	}

	// Four eyes: a restore that would grant a directory role or an Exchange role group under
	// APPROVAL_MODE admins or all is recorded waiting, and grants nothing until a second
	// person approves it.
	if req.approved == nil {
		if why := s.restoreApprovalWhy(candidates); why != "" {
			return s.awaitRestoreApproval(ctx, run, req, candidates, why)
		}
	}

	// A restore that may grant takes a slot of the hourly restore budget first; past it,
	// nothing is granted (429 with Retry-After).
	slot, err := s.reserveRestore(ctx, run, req, candidates)
	if err != nil {
		return nil, err
	}

	// Grants are about to change: finish and record them even if the caller hangs up.
	ctx = context.WithoutCancel(ctx)
	restoration := runs.Restoration{
		ID: newRestorationID(), At: s.now(), RequestedBy: req.RequestedBy, RequesterID: req.RequesterID, Status: "restoring",
		Force: req.Force, Reason: req.Reason, Steps: req.Steps, Changes: []runs.Change{}, Items: []runs.RestoreItem{},
	}
	if req.approved != nil {
		restoration.ID, restoration.At, restoration.Approval, restoration.Seal = req.approved.ID, req.approved.At, req.approved.Approval, req.approved.Seal
	}
	for _, c := range candidates {
		restoration.Items = append(restoration.Items, c.item)
	}
	// The intent is on record before the first grant: a grant that could not be recorded
	// would be privilege handed out with no trace of who asked for it. An approved
	// restoration moves from awaiting_approval to restoring only if no other decision came
	// first (ETag-guarded).
	if req.approved != nil {
		err = s.claimRestoration(ctx, run.RunID, restoration.ID, func(r *runs.Restoration) { *r = restoration })
	} else {
		_, err = s.saveRestoration(ctx, run.RunID, restoration)
	}
	if err != nil {
		s.giveBackRestore(ctx, slot)
		var ae *apperr.Error
		if errors.As(err, &ae) {
			return nil, err
		}
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable: the restore was not recorded, so nothing was granted")
	}
	if req.Force {
		s.Log.Warn("restore forced before the account was secured", "runId", run.RunID, "userId", run.User.ID, "requestedBy", req.RequestedBy, "reason", req.Reason)
	}

	var firstErr *runs.Error
	for i, c := range candidates {
		if c.item.Result == "failed" {
			if firstErr == nil {
				firstErr = &runs.Error{Code: c.item.Error.Code, Message: c.item.Target + ": " + c.item.Error.Message}
			}
			continue
		}
		// One item at a time, so each gets its own result and one failure does not stop the
		// others.
		changes, err := s.Runner.Restore(ctx, c.step, run.User, c.change, "run "+run.RunID)
		restoration.Changes = append(restoration.Changes, changes...)
		item := &restoration.Items[i]
		switch {
		case err != nil:
			e := steps.Explain("restore "+c.item.Target, err)
			item.Result, item.Error = "failed", e
			if firstErr == nil {
				firstErr = e
			}
		case len(changes) == 1 && changes[0].Action == "already_present":
			item.Result = "already_present"
		case len(changes) == 1:
			item.Result = "restored"
		default:
			item.Result, item.Error = "failed", &runs.Error{Code: "restore_failed", Message: "the recorded change is not one restore knows how to undo"}
		}
		s.Log.Info("restore item", "runId", run.RunID, "userId", run.User.ID, "step", c.step, "target", c.item.Target, "result", item.Result, "requestedBy", req.RequestedBy)
	}
	// A restore that granted nothing (every item already present, or failed) does not count
	// against the hour: repeating an idempotent restore does not use the budget up.
	if !slices.ContainsFunc(restoration.Items, func(it runs.RestoreItem) bool { return it.Result == "restored" }) {
		s.giveBackRestore(ctx, slot)
	}
	restoration.Status = "succeeded"
	if firstErr != nil {
		restoration.Status, restoration.Error = "failed", firstErr
	}
	saved, err := s.saveRestoration(ctx, run.RunID, restoration)
	if err != nil {
		s.Log.Error("restore made grants whose results could not be recorded; the run shows the restore as restoring", "runId", run.RunID, "userId", run.User.ID, "restorationId", restoration.ID, "err", err)
		return nil, apperr.Wrap(apperr.Internal, err, "the restore ran but its results could not be recorded (the run shows it as restoring); check the logs for restoration %s", restoration.ID)
	}
	return &Restored{Run: saved, RunID: run.RunID, Items: restoration.Items, RestorationID: restoration.ID, Status: restoration.Status}, nil
}

// reserveRestore takes a slot of the tenant-wide hourly restore budget (MaxPerHour, the
// same number as MAX_REMEDIATIONS_PER_HOUR: a restore gives back what at most one run took,
// so legitimate restores never outnumber the runs they undo) for a restore that has an
// item it may grant. It answers 429 with Retry-After past the budget, and no slot (nil,
// nil) when nothing can be granted.
func (s *Service) reserveRestore(ctx context.Context, run *runs.Run, req RestoreRequest, candidates []restoreCandidate) (*runs.Reservation, error) {
	if !slices.ContainsFunc(candidates, func(c restoreCandidate) bool { return c.item.Result != "failed" }) {
		return nil, nil
	}
	slot, retryAfter, err := s.Store.Reserve(ctx, runs.RestoreLimit, s.now(), s.Config.MaxPerHour)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable: nothing was granted")
	}
	if slot == nil {
		s.Log.Warn("restore refused: hourly restore budget used up", "runId", run.RunID, "userId", run.User.ID, "requestedBy", req.RequestedBy, "budget", s.Config.MaxPerHour, "retryAfter", retryAfter)
		e := apperr.New(apperr.RateLimited, "more than %d restores that granted something in the last hour (MAX_REMEDIATIONS_PER_HOUR): refused, nothing was granted, so a misfiring script or a stolen restore key cannot hand privilege back across the tenant", s.Config.MaxPerHour)
		e.RetryAfter = retryAfter
		return nil, e
	}
	return slot, nil
}

// giveBackRestore returns a restore's slot when it granted nothing.
func (s *Service) giveBackRestore(ctx context.Context, slot *runs.Reservation) {
	if err := s.Store.GiveBack(ctx, slot); err != nil {
		s.Log.Error("give back a restore slot", "err", err)
	}
}

// securedSince reports whether the account of run was secured in that run or a later one
// for the same user.
func (s *Service) securedSince(ctx context.Context, run *runs.Run) (bool, error) {
	if run.Secured() {
		return true, nil
	}
	list, err := s.Store.ListByUser(ctx, run.User.ID, 100)
	if err != nil {
		return false, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	}
	for _, other := range list {
		// A run that does not verify secured nothing: its "succeeded" steps may be forged.
		if other.Tampered == "" && !other.CreatedAt.Before(run.CreatedAt) && strings.EqualFold(other.User.ID, run.User.ID) && other.Secured() {
			return true, nil
		}
	}
	return false, nil
}

// saveRestoration adds the restoration to the run, or replaces the one with its id.
func (s *Service) saveRestoration(ctx context.Context, runID string, r runs.Restoration) (*runs.Run, error) {
	for attempt := 0; attempt < 20; attempt++ {
		run, err := s.Store.Get(ctx, runID)
		if err != nil {
			return nil, err
		}
		replaced := false
		for i := range run.Restorations {
			if run.Restorations[i].ID == r.ID {
				run.Restorations[i], replaced = r, true
			}
		}
		if !replaced {
			run.Restorations = append(run.Restorations, r)
		}
		err = s.Store.UpdateRun(ctx, run)
		if err == nil {
			return run, nil
		}
		if !errors.Is(err, runs.ErrConflict) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("save restoration of run %s: %w", runID, runs.ErrConflict)
}

func newRestorationID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// refuseTamperedRestore answers a restore of a run whose record does not verify: every item
// it names failed with record_tampered, nothing granted. The answer is not recorded in the
// run (the store writes over no record that does not verify); the error log is the trace.
// A run that names nothing to restore is refused 409 record_tampered.
func (s *Service) refuseTamperedRestore(run *runs.Run, req RestoreRequest) (*Restored, error) {
	refusal := s.tampered(run, "restore")
	items := []runs.RestoreItem{}
	for _, name := range wantedSteps(req.Steps) {
		if st := run.Step(string(name)); st != nil {
			for _, c := range st.Changes {
				if c.Restore != nil {
					items = append(items, runs.RestoreItem{Step: string(name), Target: c.Target, Result: "failed",
						Error: &runs.Error{Code: string(apperr.RecordTampered), Message: refusal.Message}})
				}
			}
		}
	}
	if len(items) == 0 {
		return nil, refusal
	}
	return &Restored{Run: run, RunID: run.RunID, Items: items}, nil
}
