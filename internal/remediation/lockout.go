package remediation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// The lockout guard (contract section 6): a run whose steps would reset the password of,
// block, or delete the authentication methods of a Global Administrator, when no other
// enabled Global Administrator remains that no run has reset, blocked or stripped of methods
// in the last 24 hours, waits for a second person whatever APPROVAL_MODE says. A spray that
// makes every Global Administrator an incident entity must not let a playbook lock the
// tenant out of its own administration: the first runs go through, the one that would take
// the last usable Global Administrator waits.

// lockoutSteps take a person's way into the account until someone gives it back.
var lockoutSteps = []steps.Name{steps.ResetPassword, steps.BlockSignIn, steps.RemoveMFAMethods}

const (
	// lockoutWindow is how long a run's reset, block or method removal counts against the
	// Global Administrator it touched.
	lockoutWindow = 24 * time.Hour
	// lockoutLock serialises the guard's count and the run's creation across instances, so
	// two concurrent runs for the last two Global Administrators cannot both find the other
	// one usable.
	lockoutLock    = "global-administrator-lockout"
	lockoutLockTTL = 30 * time.Second
)

// globalAdmins lists the enabled accounts that hold Global Administrator now (a fresh read:
// the guard decides on it under its lock).
func (s *Service) globalAdmins(ctx context.Context) ([]graph.User, error) {
	rctx, cancel := context.WithTimeout(ctx, approvalReadTimeout)
	defer cancel()
	return s.Runner.GlobalAdmins(rctx)
}

// touchesLogin reports whether the steps take a person's way into the account.
func touchesLogin(names []steps.Name) bool {
	for _, n := range names {
		if slices.Contains(lockoutSteps, n) {
			return true
		}
	}
	return false
}

func isGlobalAdmin(admins []graph.User, u graph.User) bool {
	for _, a := range admins {
		if strings.EqualFold(a.ID, u.ID) {
			return true
		}
	}
	return false
}

// lockoutGuard decides whether a new run must wait because it would take the tenant's last
// usable Global Administrator. When the run's target is a Global Administrator it takes the
// tenant-wide lockout lock and returns its release: the caller keeps it until the run is
// recorded (so the next guard counts this run), then releases it. A read that fails for
// good (a permission, a refusal) makes the run wait: the rail fails closed. One that may
// succeed later (throttling, 5xx, a timeout) is returned as err, and the start fails with
// nothing recorded: a caller or the queue tries again.
func (s *Service) lockoutGuard(ctx context.Context, user graph.User, names []steps.Name, dryRun bool, runID string, quick *quickGA) (wait bool, why string, release func(), err error) {
	wait, why, release, err = s.lockoutDecision(ctx, user, names, dryRun, runID, quick)
	if err != nil {
		release()
		release = func() {}
	}
	return wait, why, release, err
}

// quickGA is the lockout guard's first question, asked beside the user's lookup
// (startQuickGA): the Global Administrator role's principals and the user's groups.
type quickGA struct {
	done       chan struct{}
	principals map[string]bool
	groups     []string
	err        error
}

// startQuickGA asks, for a run that may lock an account out, whether its user holds Global
// Administrator, while the caller looks the user up: a run for an ordinary user then pays no
// round trip for the guard. nil when the run cannot lock anyone out.
func (s *Service) startQuickGA(ctx context.Context, user string, names []steps.Name, dryRun bool) *quickGA {
	if dryRun || !touchesLogin(names) {
		return nil
	}
	q := &quickGA{done: make(chan struct{})}
	go func() {
		defer close(q.done)
		rctx, cancel := context.WithTimeout(ctx, approvalReadTimeout)
		defer cancel()
		q.principals, q.groups, q.err = s.Runner.HoldsGlobalAdminQuick(rctx, user)
	}()
	return q
}

// holds reports the quick answer for the resolved user; ok false when it has none.
func (q *quickGA) holds(user graph.User) (holds, ok bool) {
	if q == nil {
		return false, false
	}
	<-q.done
	if q.err != nil {
		return false, false
	}
	return steps.GlobalAdminAmong(q.principals, q.groups, user.ID), true
}

func (s *Service) lockoutDecision(ctx context.Context, user graph.User, names []steps.Name, dryRun bool, runID string, quick *quickGA) (wait bool, why string, release func(), transient error) {
	release = func() {}
	if dryRun || !touchesLogin(names) {
		return false, "", release, nil
	}
	var (
		admins []graph.User
		err    error
	)
	if holds, ok := quick.holds(user); ok {
		if !holds {
			return false, "", release, nil
		}
	} else if admins, err = s.globalAdmins(ctx); err == nil && !isGlobalAdmin(admins, user) {
		return false, "", release, nil
	}
	if err == nil {
		unlock, lerr := s.Store.Lock(ctx, lockoutLock, runID, lockoutLockTTL)
		if lerr != nil {
			s.Log.Warn("lockout guard: could not take the lock; the run waits", "runId", runID, "userId", user.ID, "err", lerr)
			return true, "lockout guard: " + user.UserPrincipalName + " holds Global Administrator and the tenant-wide lockout check could not be taken (" + lerr.Error() + "), so the run waits for a second person", release, nil
		}
		release = sync.OnceFunc(unlock) // released once the run is recorded, and deferred
		// Decided on a fresh listing, under the lock.
		if admins, err = s.globalAdmins(ctx); err == nil && !isGlobalAdmin(admins, user) {
			return false, "", release, nil
		}
	}
	if graph.IsTransient(err) || errors.Is(err, context.DeadlineExceeded) {
		return false, "", release, apperr.Wrap(apperr.Upstream, err, "could not list the tenant's Global Administrators (the lockout check of a run that resets, blocks or strips an account); nothing was recorded or changed, try again")
	}
	if err != nil {
		s.Log.Warn("lockout guard: could not list the Global Administrators; the run waits", "runId", runID, "userId", user.ID, "err", err)
		return true, "lockout guard: the tenant's Global Administrators could not be read (" + steps.Explain("list Global Administrators", err).Message + "), so a run that resets, blocks or strips an account waits for a second person", release, nil
	}
	usable, uerr := s.usableGlobalAdmin(ctx, admins, user)
	if uerr != nil {
		return false, "", release, apperr.Wrap(apperr.Unavailable, uerr, "the run-record store is unreachable")
	}
	if usable != "" {
		return false, "", release, nil
	}
	var acts []string
	for _, n := range names {
		if slices.Contains(lockoutSteps, n) {
			acts = append(acts, string(n))
		}
	}
	s.Log.Error("lockout guard: the run would take the tenant's last usable Global Administrator; it waits for approval whatever APPROVAL_MODE says",
		logevent.Attr(logevent.LockoutGuardHeld), "runId", runID, "userId", user.ID, "steps", acts, "globalAdministrators", len(admins))
	return true, fmt.Sprintf("lockout guard: %s is the tenant's last usable Global Administrator (no other enabled Global Administrator remains that no run has reset, blocked or stripped of methods in the last 24 hours, and no protected account holds the role); %s would lock the tenant out of its own administration, so the run waits for a second person whatever APPROVAL_MODE says",
		user.UserPrincipalName, strings.Join(acts, ", ")), release, nil
}

// usableGlobalAdmin names another Global Administrator who can still recover the tenant:
// a protected account (never touched by a run), or one no run has reset, blocked or
// stripped of methods within lockoutWindow. "" when there is none.
func (s *Service) usableGlobalAdmin(ctx context.Context, admins []graph.User, target graph.User) (string, error) {
	for _, a := range admins {
		if strings.EqualFold(a.ID, target.ID) {
			continue
		}
		if s.protected(ctx, a) {
			return a.ID, nil
		}
		list, err := s.Store.ListByUser(ctx, a.ID, 50)
		if err != nil {
			return "", err
		}
		if !s.touchedRecently(list) {
			return a.ID, nil
		}
	}
	return "", nil
}

// touchedRecently reports whether one of the runs (of one user) has reset, blocked or
// stripped the account within lockoutWindow, or is about to: a step of lockoutSteps that
// is pending, running or succeeded in a real run that was not refused, rejected or expired.
// A run awaiting approval counts: approved, it acts. A record that does not verify counts
// too: the guard then errs on the side of waiting.
func (s *Service) touchedRecently(list []*runs.Run) bool {
	since := s.now().Add(-lockoutWindow)
	for _, r := range list {
		if r.DryRun || r.CreatedAt.Before(since) {
			continue
		}
		switch r.Status {
		case runs.Refused, runs.Rejected, runs.Expired:
			continue
		}
		for _, st := range r.Steps {
			if !slices.Contains(lockoutSteps, steps.Name(st.Name)) {
				continue
			}
			switch st.Status {
			case runs.StepPending, runs.StepRunning, runs.StepSucceeded:
				return true
			}
		}
	}
	return false
}
