package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

func (r *Runner) resetPassword(ctx context.Context, in Input) Outcome {
	if in.Target.Synced {
		return syncedUser(in)
	}
	change := runs.Change{
		Action: "password_reset", Target: in.Target.UPN,
		After:   map[string]any{"forceChangePasswordNextSignIn": true},
		Reasons: []string{"the account is treated as compromised: its password is replaced at once and never shown to anyone"},
	}
	if stop := recordBeforeActing(ctx, "reset-password", in, []runs.Change{change}); stop != nil {
		return *stop
	}
	password, err := NewPassword()
	if err != nil {
		return Outcome{Status: runs.StepFailed, Error: &runs.Error{Code: "password_generation", Message: "could not generate a password"}}
	}
	err = r.Directory.SetPassword(ctx, in.Target.ID, password)
	password = "" // drop the only reference; it is never logged, stored or returned
	var ge *graph.Error
	switch {
	case err == nil:
		return Outcome{Status: runs.StepSucceeded, Changes: []runs.Change{change}}
	case errors.As(err, &ge) && (ge.Status == 400 || ge.Status == 403) && isGuest(in.Target.UPN):
		// A B2B guest signs in with its home organisation's account: that directory holds
		// the password, and this one refuses to set it (403 "Insufficient privileges", or
		// 400, depending on the account; the portal says "This is not the home directory").
		return guestUser(in)
	case errors.As(err, &ge) && ge.Status == 400 && strings.Contains(strings.ToLower(ge.Message), "on-premises"):
		// The directory knows the user is synced even if the read said otherwise.
		return syncedUser(in)
	case errors.As(err, &ge) && ge.Status == 403:
		return Outcome{Status: runs.StepFailed, Error: &runs.Error{Code: orDefault(ge.Code, "Authorization_RequestDenied"),
			Message: "reset-password: Microsoft Graph refused the reset (" + ge.Message + "). The account probably holds an admin role: the managed identity needs the Privileged Authentication Administrator directory role (and User-PasswordProfile.ReadWrite.All) to reset it. Reset the password by hand now, then grant the role."}}
	}
	return fail("reset-password", err, nil)
}

// isGuest reports a B2B guest: its UPN is the invited address with '@' turned into '_',
// then "#EXT#@" and this tenant's initial domain.
func isGuest(upn string) bool { return strings.Contains(strings.ToUpper(upn), "#EXT#@") }

// guestHome is the home organisation's domain of a guest: the part of the invited address
// after its '@', which the UPN keeps as the text after the last '_' before "#EXT#" (domain
// names hold no '_').
func guestHome(upn string) string {
	i := strings.Index(strings.ToUpper(upn), "#EXT#@")
	if i < 0 {
		return ""
	}
	local := upn[:i]
	if j := strings.LastIndex(local, "_"); j >= 0 {
		return local[j+1:]
	}
	return ""
}

func guestUser(in Input) Outcome {
	home := guestHome(in.Target.UPN)
	if home == "" {
		home = "its home organisation"
	}
	return Outcome{
		Status: runs.StepActionRequired,
		Message: "the guest account " + in.Target.UPN + " signs in with its home organisation's account (" + home + "), whose directory holds the password: this tenant cannot reset it. " +
			"Ask " + home + "'s administrators to reset it and revoke its sessions there; sessions in this tenant are revoked all the same (block-sign-in keeps the guest out meanwhile). Run unblock-sender afterwards.",
	}
}

func syncedUser(in Input) Outcome {
	return Outcome{
		Status: runs.StepActionRequired,
		Message: "the account " + in.Target.UPN + " is synced from on-premises Active Directory (onPremisesSyncEnabled), so its password cannot be reset from the cloud. " +
			"Reset it in on-premises AD now (with 'User must change password at next logon') and let it sync; sessions are revoked all the same. Run unblock-sender afterwards.",
	}
}

func (r *Runner) revokeSessions(ctx context.Context, in Input) Outcome {
	change := runs.Change{
		Action: "sessions_revoked", Target: in.Target.UPN,
		Reasons: []string{"invalidates every refresh token and session cookie, so an attacker's sign-ins end"},
	}
	if stop := recordBeforeActing(ctx, "revoke-sessions", in, []runs.Change{change}); stop != nil {
		return *stop
	}
	if err := r.Directory.RevokeSessions(ctx, in.Target.ID); err != nil {
		return fail("revoke-sessions", err, nil)
	}
	msg := revocationLimits
	if isGuest(in.Target.UPN) {
		msg += " " + fmt.Sprintf(guestRevocation, orUnknownHome(guestHome(in.Target.UPN)))
	}
	return Outcome{Status: runs.StepSucceeded, Changes: []runs.Change{change}, Message: msg}
}

// revocationLimits says what revokeSignInSessions does and does not do (Microsoft's pages
// of the call and of continuous access evaluation), so nobody reads "sessions revoked" as
// "the attacker is out".
const revocationLimits = "Refresh tokens and session cookies are invalid now (Microsoft notes a delay of a few minutes). " +
	"Apps that support continuous access evaluation end their sessions within about 15 minutes; " +
	"other apps' access tokens stay valid until they expire, up to an hour. " +
	"Watch the account (options.watch) to see whether the attacker comes back."

// guestRevocation: for a guest, the call ends sessions in this tenant only.
const guestRevocation = "The account is a guest: this ends its sessions in this tenant only, not in its home organisation (%s), whose administrators must revoke them there."

func orUnknownHome(home string) string {
	if home == "" {
		return "its domain could not be read from the UPN"
	}
	return home
}
