package steps

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// SignInGrant is what restore needs to undo block-sign-in (Change.Restore): the account was
// enabled before this run disabled it. A run that found sign-in already blocked records no
// change, so restore never enables an account this run did not disable.
type SignInGrant struct {
	AccountEnabled bool `json:"accountEnabled"`
}

func (r *Runner) blockSignIn(ctx context.Context, in Input) Outcome {
	userID := in.Target.ID
	// The account and its Global Administrator standing are read at once: block-sign-in is
	// on the critical path (revoke-sessions waits for it).
	var (
		user             graph.User
		holds            bool
		userErr, roleErr error
	)
	// With options.blockSignIn.disableDevices the user's devices are read at the same time.
	var devs devicePlan
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); user, userErr = r.Directory.GetUser(ctx, userID) }()
	go func() { defer wg.Done(); holds, roleErr = r.holdsGlobalAdmin(ctx, userID) }()
	if in.Options.BlockSignIn.DisableDevices {
		wg.Add(1)
		go func() { defer wg.Done(); devs = r.planDevices(ctx, in) }()
	}
	wg.Wait()
	if userErr != nil {
		return fail("block-sign-in: read the account", userErr, nil)
	}
	if devs.readErr != nil && isTransient(devs.readErr) {
		// A passing failure: the step is tried again soon, with the account's block.
		return fail("block-sign-in: read the user's registered and owned devices", devs.readErr, nil)
	}
	if !user.AccountEnabled {
		return r.withDevices(ctx, in, devs, Outcome{Status: runs.StepNoChange, Message: "sign-in of " + in.Target.UPN + " is already blocked (accountEnabled is false); nothing was changed and restore will not enable it"}, false)
	}
	if user.OnPremisesSyncEnabled || in.Target.Synced {
		return r.withDevices(ctx, in, devs, syncedSignIn(in), false)
	}

	// Disabling the tenant's last enabled Global Administrator locks everyone out as surely
	// as removing the role: the same guard as remove-admin-roles, under the same
	// tenant-wide lock, so two runs cannot disable the last two between them.
	if roleErr != nil {
		return fail("block-sign-in: read the account's Global Administrator role", roleErr, nil)
	}
	var lease runs.Lease = noLease{}
	if holds {
		if !in.DryRun {
			holder := in.RunID
			if holder == "" {
				holder = "user " + userID
			}
			held, err := r.lockGlobalAdmins(ctx, holder)
			if err != nil {
				return Outcome{Status: runs.StepFailed, Transient: true, Error: &runs.Error{Code: "lock_busy",
					Message: "block-sign-in: could not take the tenant-wide Global Administrator lock (" + err.Error() + "); sign-in was not blocked, the step will be retried"}}
			}
			defer held.Release()
			lease = held
		}
		other, err := r.otherGlobalAdmin(ctx, userID)
		if err != nil && isTransient(err) {
			return fail("block-sign-in: count Global Administrators", err, nil)
		}
		if err != nil || !other {
			why := "the account is the tenant's last enabled Global Administrator (no other enabled user holds the role, directly or through a group), and blocking its sign-in would lock the tenant out"
			if err != nil {
				why = "could not verify that another enabled Global Administrator exists (" + explain("count Global Administrators", err).Message + ")"
			}
			msg := "sign-in of " + in.Target.UPN + " was not blocked: " + why + ". Give Global Administrator to another (break-glass) account, then run block-sign-in again; revoke-sessions and the password reset still apply."
			if devs.asked {
				msg += " The user's devices were left enabled as well (options.blockSignIn.disableDevices): a Conditional Access policy may require them for the last administrator's sign-in."
			}
			return Outcome{Status: runs.StepActionRequired, Message: msg}
		}
	}

	change := runs.Change{
		Action: "sign_in_blocked", Target: in.Target.UPN,
		Before:  map[string]any{"accountEnabled": true},
		After:   map[string]any{"accountEnabled": false},
		Reasons: []string{"the account is treated as compromised: nobody signs in with it until it is secured; restore enables it again"},
		Restore: SignInGrant{AccountEnabled: true},
	}
	// The devices' planned changes are recorded with the account's, before either acts.
	var devicePlanned []runs.Change
	if devs.asked && devs.readErr == nil {
		devicePlanned = devs.changes()
	}
	if stop := recordBeforeActing(ctx, "block-sign-in", in, append([]runs.Change{change}, devicePlanned...)); stop != nil {
		if in.DryRun {
			return r.withDevices(ctx, in, devs, Outcome{Status: runs.StepPlanned, Changes: []runs.Change{change}}, true)
		}
		return *stop
	}
	// The count above holds only while the lock does: a lock lost meanwhile blocks nothing.
	if err := lease.Held(); err != nil {
		return lockLost("block-sign-in", err, nil)
	}
	err := r.Directory.SetAccountEnabled(ctx, userID, false)
	var ge *graph.Error
	switch {
	case err == nil:
		if holds {
			// Keep the lock until the directory shows the account disabled, so a run that
			// counts right after this one does not take it for another Global Administrator.
			r.awaitDisabled(ctx, userID)
			if out := r.enableIfLast(ctx, userID, in, change); out != nil {
				return *out
			}
		}
		return r.withDevices(ctx, in, devs, Outcome{Status: runs.StepSucceeded, Changes: []runs.Change{change}}, true)
	case errors.As(err, &ge) && ge.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(ge.Message), "on-premises"):
		// The directory knows the user is synced even if the read said otherwise.
		return r.withDevices(ctx, in, devs, syncedSignIn(in), true)
	case errors.As(err, &ge) && ge.Status == http.StatusForbidden:
		return Outcome{Status: runs.StepFailed, Error: &runs.Error{Code: orDefault(ge.Code, "Authorization_RequestDenied"),
			Message: "block-sign-in: Microsoft Graph refused to block sign-in (" + ge.Message + "). An account that holds an admin role can only be disabled by an identity with the Privileged Authentication Administrator directory role (and User.EnableDisableAccount.All). Block sign-in by hand now, then grant the role."}}
	}
	return fail("block-sign-in", err, nil)
}

// enableIfLast counts the Global Administrators again after block-sign-in disabled one:
// when no other enabled one remains (another admin disabled or demoted it meanwhile, a race
// the lock cannot catch), it enables the account again at once and answers the step's
// outcome (action_required); nil when another remains.
func (r *Runner) enableIfLast(ctx context.Context, userID string, in Input, blocked runs.Change) *Outcome {
	other, err := r.otherGlobalAdminAfter(ctx, userID, nil)
	if err != nil {
		return &Outcome{Status: runs.StepActionRequired, Changes: []runs.Change{blocked}, Message: "sign-in of " + in.Target.UPN + " was blocked, but the Global Administrators could not be counted again afterwards (" +
			explain("count Global Administrators", err).Message + "). Check now that another enabled account holds Global Administrator; if none does, restore this run's block-sign-in."}
	}
	if other {
		return nil
	}
	if err := r.Directory.SetAccountEnabled(ctx, userID, true); err != nil {
		return &Outcome{Status: runs.StepActionRequired, Changes: []runs.Change{blocked}, Error: &runs.Error{Code: "last_global_admin_blocked",
			Message: "blocked the sign-in of " + in.Target.UPN + " and then found no other enabled Global Administrator; enabling it again failed (" + explain("enable the account", err).Message + "). Enable an account that holds Global Administrator now (restore this run's block-sign-in, or a break-glass account)."},
			Message: "the tenant may have no enabled Global Administrator: enable one now."}
	}
	return &Outcome{Status: runs.StepActionRequired, Changes: []runs.Change{{Action: "sign_in_allowed_again", Target: blocked.Target, Before: blocked.After, After: blocked.Before,
		Reasons: []string{"no other enabled Global Administrator remained once sign-in was blocked; allowed again at once so the tenant is not locked out"}}},
		Message: "sign-in of " + in.Target.UPN + " was blocked, then the Global Administrators were counted again and no other enabled Global Administrator remained (one was disabled or lost the role meanwhile, outside this run), so sign-in was allowed again at once. Give Global Administrator to another (break-glass) account, then run block-sign-in again; revoke-sessions and the password reset still apply."}
}

// awaitDisabled waits, at most globalAdminSettle, until a read shows the account disabled.
func (r *Runner) awaitDisabled(ctx context.Context, userID string) {
	deadline := time.Now().Add(globalAdminSettle)
	for {
		u, err := r.Directory.GetUser(ctx, userID)
		if err == nil && !u.AccountEnabled || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func syncedSignIn(in Input) Outcome {
	return Outcome{
		Status: runs.StepActionRequired,
		Message: "the account " + in.Target.UPN + " is synced from on-premises Active Directory (onPremisesSyncEnabled), so its sign-in cannot be blocked from the cloud. " +
			"Disable the account in on-premises AD now (Disable-ADAccount, or 'Account is disabled' in Active Directory Users and Computers) and let it sync; sessions are revoked all the same.",
	}
}

// holdsGlobalAdmin reports whether the user holds Global Administrator actively: an
// assignment of its own, or membership of a role-assignable group that holds it.
func (r *Runner) holdsGlobalAdmin(ctx context.Context, userID string) (bool, error) {
	principals, groups, err := r.HoldsGlobalAdminQuick(ctx, userID)
	if err != nil {
		return false, err
	}
	return GlobalAdminAmong(principals, groups, userID), nil
}

// restoreSignIn enables the account again, once: an account already enabled is
// already_present.
func (r *Runner) restoreSignIn(ctx context.Context, user runs.UserRef, c runs.Change) ([]runs.Change, error) {
	var grant SignInGrant
	raw, _ := json.Marshal(c.Restore)
	if err := json.Unmarshal(raw, &grant); err != nil || !grant.AccountEnabled {
		return nil, errors.New("the recorded change does not say the account was enabled before")
	}
	return enableAgain(c, "this run blocked the sign-in ("+c.Action+"); it is allowed again",
		func() (bool, error) {
			current, err := r.Directory.GetUser(ctx, user.ID)
			return current.AccountEnabled, err
		},
		func() error { return r.Directory.SetAccountEnabled(ctx, user.ID, true) })
}

// enableAgain restores what a run disabled (an account, a device): already_present when it
// is enabled now, else enabled again and reported restored.
func enableAgain(c runs.Change, reason string, enabled func() (bool, error), enable func() error) ([]runs.Change, error) {
	on, err := enabled()
	if err != nil {
		return nil, err
	}
	change := runs.Change{Action: "restored", Target: c.Target, After: map[string]any{"accountEnabled": true}, Reasons: []string{reason}}
	if on {
		change.Action = "already_present"
		return []runs.Change{change}, nil
	}
	if err := enable(); err != nil {
		return nil, err
	}
	return []runs.Change{change}, nil
}
