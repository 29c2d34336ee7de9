package remediation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// Approval modes (APPROVAL_MODE, contract 6.1).
const (
	ApprovalNone   = "none"   // no run waits
	ApprovalAdmins = "admins" // a run for a user who holds an Entra directory role or an Exchange role group waits
	ApprovalAll    = "all"    // every run that may change the tenant waits
)

// DefaultApprovalTimeout is APPROVAL_TIMEOUT's default.
const DefaultApprovalTimeout = time.Hour

// approvalReadTimeout bounds the role reads that decide whether a run waits.
const approvalReadTimeout = 30 * time.Second

func (s *Service) approvalTimeout() time.Duration {
	if s.Config.ApprovalTimeout > 0 {
		return s.Config.ApprovalTimeout
	}
	return DefaultApprovalTimeout
}

// approvalNeeded decides whether a new run waits for a second person, and says why. Dry runs
// never wait (they change nothing), nor do runs whose every step only reads (investigate).
// When the roles cannot be read the run waits: the safety rail fails closed.
func (s *Service) approvalNeeded(ctx context.Context, user graph.User, names []steps.Name, dryRun bool) (bool, string) {
	mode := s.Config.ApprovalMode
	if mode == "" || mode == ApprovalNone || dryRun || !mayChange(names) {
		return false, ""
	}
	if mode == ApprovalAll {
		return true, "APPROVAL_MODE=all: every run that may change the tenant waits for a second person"
	}
	ctx, cancel := context.WithTimeout(ctx, approvalReadTimeout)
	defer cancel()
	roles, unread, err := s.Runner.DirectoryRoles(ctx, user.ID)
	if err != nil {
		s.Log.Warn("approval: could not read the user's directory roles; the run waits", "userId", user.ID, "err", err)
		return true, "APPROVAL_MODE=admins: the user's directory roles could not be read (" + steps.Explain("read directory roles", err).Message + "), so the run waits to be safe"
	}
	var why []string
	if len(roles) > 0 {
		why = append(why, "Entra directory roles: "+strings.Join(roles, "; "))
	}
	if unread != "" {
		// A role held through an eligible group membership would go unseen: fail closed.
		s.Log.Warn("approval: could not read the user's eligible group memberships (PIM for Groups); the run waits", "userId", user.ID, "why", unread)
		why = append(why, unread+": a role held through one would go unseen, so the run waits to be safe")
	}
	// Exchange role groups hold users, not mailboxes: asked of every user, matched by the
	// object id Exchange shows for the member.
	{
		groups, unread, managed, err := s.Runner.ExchangeRoleGroups(ctx, steps.Target{ID: user.ID, UPN: user.UserPrincipalName, Mail: user.Mail})
		switch {
		case err != nil:
			s.Log.Warn("approval: could not read the user's Exchange role groups; the run waits", "userId", user.ID, "err", err)
			why = append(why, "Exchange role groups could not be read ("+steps.Explain("read Exchange role groups", err).Message+")")
		case len(groups) > 0:
			why = append(why, "Exchange role groups: "+strings.Join(groups, "; "))
		}
		if len(unread) > 0 {
			// A group Exchange manages whose members cannot be read may hold the user: fail closed.
			s.Log.Warn("approval: the members of some Exchange role groups could not be read; the run waits", "userId", user.ID, "groups", unread)
			why = append(why, "Exchange role groups whose members could not be read (the user may be in them): "+strings.Join(unread, "; "))
		}
		if len(managed) > 0 {
			// Their members follow an Entra role (read above) or are Microsoft's own: they do
			// not make every run wait.
			s.Log.Info("approval: role groups managed outside Exchange could not be read and were not counted", "userId", user.ID, "groups", managed)
		}
	}
	if len(why) == 0 {
		return false, ""
	}
	return true, "APPROVAL_MODE=admins: the user holds " + strings.Join(why, "; and ")
}

// mayChange reports whether any of the steps can change the tenant (impact other than none).
func mayChange(names []steps.Name) bool {
	for _, n := range names {
		if st, ok := catalog.Lookup(n); !ok || st.Impact != catalog.ImpactNone {
			return true
		}
	}
	return false
}

// Principal is the caller who decides, as the HTTP layer knows it.
type Principal struct {
	ID   string // X-MS-CLIENT-PRINCIPAL-ID under easyauth; "" under function keys
	Name string // what requestedBy would record for this caller
	// Checked: the caller's identity is vouched for (easyauth), so the four-eyes rule
	// (approver is not the requester) applies. Function keys say which key, not who.
	Checked bool
}

// DecideRequest approves or rejects a waiting run.
type DecideRequest struct {
	RunID   string
	Approve bool
	Reason  string
	By      Principal
}

// Decide approves or rejects a run that awaits approval. Approval sends the run on through
// the step queues, as an async start does; rejection ends it rejected. Two decisions at
// once are serialised by the run header's ETag: the first wins, the second finds the run
// decided and is refused 409 not_awaiting_approval, as is any decision on a run that is not
// waiting (a second approve is not repeated silently: it says who decided, and when).
func (s *Service) Decide(ctx context.Context, req DecideRequest) (*runs.Run, error) {
	if len(req.Reason) > 2000 {
		return nil, apperr.New(apperr.Invalid, "reason is longer than 2000 characters")
	}
	verb := "approve"
	if !req.Approve {
		verb = "reject"
	}
	// Recorded and acted on in full even when the caller hangs up.
	ctx = context.WithoutCancel(ctx)
	for attempt := 0; attempt < 20; attempt++ {
		run, err := s.Get(ctx, req.RunID)
		if err != nil {
			return nil, err
		}
		if run.Tampered != "" {
			return nil, s.tampered(run, verb)
		}
		if req.By.Checked && samePrincipal(run, req.By) {
			s.Log.Warn("approval refused: the approver is the requester", "runId", run.RunID, "principalId", req.By.ID, "decision", verb)
			return nil, apperr.New(apperr.SamePrincipal, "%s requested run %s and cannot %s it: a second person must decide (four eyes)", run.RequestedBy, run.RunID, verb)
		}
		if !run.Waiting() {
			return nil, notAwaiting(run)
		}
		now := s.now()
		run.Approval.DecidedBy = req.By.Name
		run.Approval.DecidedAt = &now
		run.Approval.Reason = req.Reason
		if req.Approve {
			run.Approval.Decision = runs.Approved
			run.Status = runs.Queued
			run.Mode = "async"
		} else {
			run.Approval.Decision = runs.DecisionRejected
			run.Status = runs.Rejected
			run.FinishedAt = &now
		}
		switch err := s.Store.UpdateRun(ctx, run); {
		case errors.Is(err, runs.ErrConflict):
			continue // someone else wrote the header: look again
		case err != nil:
			return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
		}
		s.Log.Info("run "+run.Approval.Decision, "runId", run.RunID, "userId", run.User.ID, "decidedBy", req.By.Name, "requestedBy", run.RequestedBy)
		s.dropAwaiting(ctx, run)
		if req.Approve {
			// The steps go through the queues now; if sending fails, the timer's recovery
			// sends them (the run is queued).
			if err := s.advance(ctx, run.RunID, false); err != nil {
				s.Log.Error("enqueue the steps of an approved run", "runId", run.RunID, "err", err)
			}
		} else {
			s.skipSteps(ctx, run, fmt.Sprintf("not run: the run was rejected by %s", orSomeone(req.By.Name)))
		}
		return s.Get(ctx, run.RunID)
	}
	return nil, apperr.Wrap(apperr.Unavailable, runs.ErrConflict, "the run changed too often while deciding; try again")
}

// samePrincipal compares object ids when both are known: two people may share a display
// name, one principal never has two ids. A run recorded without the requester's id (started
// under function keys, or before ids were recorded) is compared by name.
func samePrincipal(run *runs.Run, by Principal) bool {
	if by.ID != "" && run.RequesterID != "" {
		return strings.EqualFold(by.ID, run.RequesterID)
	}
	return by.Name != "" && strings.EqualFold(strings.TrimSpace(by.Name), strings.TrimSpace(run.RequestedBy))
}

func notAwaiting(run *runs.Run) error {
	a := run.Approval
	switch {
	case !a.Required:
		return apperr.New(apperr.NotAwaiting, "run %s did not need approval (status %s)", run.RunID, run.Status)
	case a.Decision == runs.DecisionExpired:
		return apperr.New(apperr.NotAwaiting, "run %s expired without a decision at %s; start a new run", run.RunID, a.DecidedAt.Format(time.RFC3339))
	case a.Decision != "" && a.DecidedAt != nil:
		return apperr.New(apperr.NotAwaiting, "run %s was already %s by %s at %s (status %s)", run.RunID, a.Decision, orSomeone(a.DecidedBy), a.DecidedAt.Format(time.RFC3339), run.Status)
	}
	return apperr.New(apperr.NotAwaiting, "run %s is not awaiting approval (status %s)", run.RunID, run.Status)
}

func orSomeone(name string) string {
	if name == "" {
		return "an approver"
	}
	return name
}

// expireIfDue ends a waiting run whose window has closed: status expired, its steps skipped.
// It answers the run as it is afterwards (a concurrent decision may have come first).
func (s *Service) expireIfDue(ctx context.Context, run *runs.Run) (*runs.Run, error) {
	for attempt := 0; attempt < 20; attempt++ {
		if run.Tampered != "" || !run.Waiting() || run.Approval.ExpiresAt == nil || s.now().Before(*run.Approval.ExpiresAt) {
			return run, nil // a record that does not verify is not written over, not even to expire it
		}
		now := s.now()
		run.Status = runs.Expired
		run.FinishedAt = &now
		run.Approval.Decision = runs.DecisionExpired
		run.Approval.DecidedAt = &now
		run.Approval.Reason = fmt.Sprintf("no decision within APPROVAL_TIMEOUT (%s, until %s)", run.Approval.ExpiresAt.Sub(run.CreatedAt).Round(time.Second), run.Approval.ExpiresAt.Format(time.RFC3339))
		err := s.Store.UpdateRun(ctx, run)
		if err == nil {
			s.Log.Warn("run expired without an approval decision", "runId", run.RunID, "userId", run.User.ID, "requestedBy", run.RequestedBy)
			s.dropAwaiting(ctx, run)
			s.skipSteps(ctx, run, "not run: no one approved the run within APPROVAL_TIMEOUT")
			return s.Store.Get(ctx, run.RunID)
		}
		if !errors.Is(err, runs.ErrConflict) {
			return nil, err
		}
		if run, err = s.Store.Get(ctx, run.RunID); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("expire run %s: %w", run.RunID, runs.ErrConflict)
}

// ExpireApprovals ends expired every run whose approval window has closed undecided. The
// timer calls it; it reads one index partition (runs.AwaitingDue), not the run table.
func (s *Service) ExpireApprovals(ctx context.Context) (expired int, err error) {
	now := s.now()
	due, err := s.Store.AwaitingDue(ctx, now, 200)
	if err != nil {
		return 0, err
	}
	for _, a := range due {
		run, err := s.Store.Get(ctx, a.RunID)
		if errors.Is(err, runs.ErrNotFound) {
			// The entry is written before its run: a run that was never recorded leaves it.
			// Long past its deadline, its creation has certainly ended.
			if now.Sub(a.Deadline) > 5*time.Minute {
				_ = s.Store.DropAwaiting(ctx, a)
			}
			continue
		}
		if err != nil {
			s.Log.Error("expire approvals: read run", "runId", a.RunID, "err", err)
			continue
		}
		if run.Tampered != "" {
			// It cannot act (nothing of it is claimed): drop it from the timer's list, once.
			s.tampered(run, "expire approvals")
			_ = s.Store.DropAwaiting(ctx, a)
			continue
		}
		if !run.Waiting() {
			_ = s.Store.DropAwaiting(ctx, a) // decided; its own removal of the entry failed
			continue
		}
		after, err := s.expireIfDue(ctx, run)
		if err != nil {
			s.Log.Error("expire approvals", "runId", a.RunID, "err", err)
			continue
		}
		if after.Status == runs.Expired && after.Approval.Decision == runs.DecisionExpired {
			expired++
		}
	}
	return expired, nil
}

func (s *Service) dropAwaiting(ctx context.Context, run *runs.Run) {
	if run.Approval.ExpiresAt == nil {
		return
	}
	if err := s.Store.DropAwaiting(ctx, runs.Awaiting{RunID: run.RunID, Deadline: *run.Approval.ExpiresAt}); err != nil {
		// The timer removes it when it meets it.
		s.Log.Error("remove the approval index entry", "runId", run.RunID, "err", err)
	}
}

// skipSteps ends the pending steps of a run that will not act (rejected, expired). Best
// effort: the run's status already stops every step (runs.Run.Halted).
func (s *Service) skipSteps(ctx context.Context, run *runs.Run, message string) {
	now := s.now()
	for i := range run.Steps {
		st := &run.Steps[i]
		if st.Status.Final() {
			continue
		}
		st.Status = runs.StepSkipped
		st.Message = message
		st.FinishedAt = &now
		st.LeaseUntil = time.Time{}
		if err := s.saveStep(ctx, run.RunID, st); err != nil {
			s.Log.Error("mark a step of a halted run skipped", "runId", run.RunID, "step", st.Name, "err", err)
		}
	}
}
