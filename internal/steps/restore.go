package steps

import (
	"context"
	"fmt"

	"github.com/tourniquet/tourniquet/internal/runs"
)

// Restore undoes one change that a reversible step recorded (its Restore part) for user, and
// answers the change it made: action "already_present" when there was nothing to undo, so
// a restore can be run again. Each reversible step of the catalog has a case here.
func (r *Runner) Restore(ctx context.Context, step Name, user runs.UserRef, c runs.Change, reason string) ([]runs.Change, error) {
	switch step {
	case RemoveAdminRoles:
		return r.RestoreAdminRoles(ctx, user.ID, []runs.Change{c}, reason)
	case DisableMailProtocols, RemoveExchangeRoleGroups, RemoveMailboxDelegates:
		return r.restoreExchangeAccess(ctx, step, user, c)
	case BlockSignIn:
		if c.Action == actionDeviceDisabled {
			return r.restoreDevice(ctx, c)
		}
		return r.restoreSignIn(ctx, user, c)
	case RevokeAppConsents:
		return r.restoreConsent(ctx, user, c)
	}
	return nil, fmt.Errorf("restore does not know how to undo a change of %s", step)
}
