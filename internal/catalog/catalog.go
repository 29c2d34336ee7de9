// Package catalog names the remediation steps and the order they run in. It is the one place
// where a step's metadata lives (description, default, reversible, impact, dependencies):
// the function folders, GET /api/steps, the OpenAPI description, the docs table and the run
// order are all derived from it. It is a leaf package, so the function registry and the run
// records can use the names without the SDKs.
package catalog

import (
	"fmt"
	"slices"
	"strings"
)

// Name names a step; the names are part of the external contract (routes, queues).
type Name string

const (
	ResetPassword            Name = "reset-password"
	BlockSignIn              Name = "block-sign-in"
	RevokeSessions           Name = "revoke-sessions"
	RemoveForwarding         Name = "remove-forwarding"
	RemoveInboxRules         Name = "remove-inbox-rules"
	RemoveAdminRoles         Name = "remove-admin-roles"
	RemoveExchangeRoleGroups Name = "remove-exchange-role-groups"
	DisableMailProtocols     Name = "disable-mail-protocols"
	RemoveMailboxDelegates   Name = "remove-mailbox-delegates"
	RemoveMFAMethods         Name = "remove-mfa-methods"
	RevokeAppConsents        Name = "revoke-app-consents"
	Investigate              Name = "investigate"
	UnblockSender            Name = "unblock-sender"
)

// Impact says how much a step disturbs the user (and, for roles, the tenant's operations).
type Impact string

const (
	ImpactNone     Impact = "none"
	ImpactLow      Impact = "low"
	ImpactMedium   Impact = "medium"
	ImpactHigh     Impact = "high"
	ImpactCritical Impact = "critical"
)

// Step is one entry of the catalog, as GET /api/steps answers it.
type Step struct {
	Name Name `json:"name"`
	// Title says what the step does in a few words, for people (the report page).
	Title       string `json:"-"`
	Description string `json:"description"`
	// Default steps run when a request names none (the contract's six).
	Default bool `json:"default"`
	// Reversible steps are undone by POST /api/remediations/{runId}/restore.
	Reversible bool   `json:"reversible"`
	Impact     Impact `json:"impact"`
	// RestoreWhenNamed marks a reversible step that undid what the attacker may have added
	// (a mailbox delegate, an app consent): restore gives it back only when the request
	// names it, never by default, so a restore without steps gives back the victim's own
	// access only.
	RestoreWhenNamed bool `json:"-"`
	// After names the steps that must have finished before this one starts, when the run
	// has them. waitsForAll marks a step that waits for every other step of the run except
	// those that nothing waits for (notAwaited).
	After       []Name `json:"-"`
	waitsForAll bool
	notAwaited  bool
}

// Steps is the catalog, in run-document order.
var Steps = []Step{
	{Name: ResetPassword, Title: "Reset the password (new random password, change forced at next sign-in)", Default: true, Impact: ImpactHigh,
		Description: "Sets a new random password that the user must change at next sign-in; the password is never mailed, logged, stored or returned. A user synced from on-premises AD, or a guest whose password its home organisation holds, ends action_required with what to do."},
	{Name: BlockSignIn, Title: "Block sign-in until the account is secured", Impact: ImpactHigh, Reversible: true,
		Description: "Blocks sign-in (accountEnabled false) until the account is secured; restore enables it again only if this run disabled it. A synced user ends action_required (disable it in on-premises AD); never the tenant's last enabled Global Administrator. With options.blockSignIn.disableDevices it also disables the Entra ID devices the user registered or owns that were registered in the look-back window, each recorded so restore enables it again; devices without a registration time, and non-Windows devices, are named and the step ends action_required."},
	{Name: RevokeSessions, Title: "Revoke every session and refresh token", Default: true, Impact: ImpactMedium, After: []Name{ResetPassword, BlockSignIn},
		Description: "Invalidates every refresh token and session cookie, after the password reset and sign-in block, so no session outlives them."},
	{Name: RemoveForwarding, Title: "Remove mailbox forwarding", Default: true, Impact: ImpactMedium,
		Description: "Clears mailbox-level forwarding (ForwardingSmtpAddress, ForwardingAddress, DeliverToMailboxAndForward) and records the old values."},
	{Name: RemoveInboxRules, Title: "Disable or delete suspicious inbox rules", Default: true, Impact: ImpactMedium,
		Description: "Lists every inbox rule including hidden ones and disables (or deletes) the suspicious ones, recording each rule and the reasons it was flagged."},
	{Name: RemoveAdminRoles, Title: "Remove directory (admin) roles", Default: true, Impact: ImpactCritical, Reversible: true,
		Description: "Removes direct, custom, PIM-eligible, PIM-active and group-based Entra directory roles, each recorded so it can be restored; never the tenant's last Global Administrator."},
	{Name: RemoveExchangeRoleGroups, Title: "Remove the account from Exchange admin role groups", Impact: ImpactHigh, Reversible: true,
		Description: "Removes the user from every Exchange Online admin role group (Organization Management, Recipient Management, ...) and records each group."},
	{Name: DisableMailProtocols, Title: "Turn off the mailbox's mail protocols (OWA, MAPI, EWS, ActiveSync, POP, IMAP, Outlook mobile and Mac, SMTP AUTH)", Impact: ImpactHigh, Reversible: true,
		Description: "Turns off OWA, MAPI, EWS, ActiveSync, POP, IMAP, Outlook for iOS and Android (OutlookMobileEnabled) and Outlook for Mac (MacOutlookEnabled), and turns SMTP AUTH off for the mailbox (SmtpClientAuthenticationDisabled true), recording each previous value (null, the organisation's setting, included); restore puts each one back. When the organisation blocks EWS (Get-OrganizationConfig EwsEnabled false) the step says so and leaves the mailbox's EWS setting alone."},
	{Name: RemoveMailboxDelegates, Title: "Remove delegates of the mailbox (FullAccess, SendAs, SendOnBehalf)", Impact: ImpactMedium, Reversible: true, RestoreWhenNamed: true,
		Description: "Removes explicit FullAccess, SendAs and SendOnBehalf delegates on the user's mailbox and records each grant."},
	{Name: RemoveMFAMethods, Title: "Remove the attacker's sign-in (MFA) methods", Impact: ImpactHigh,
		Description: "Deletes every authentication method but the password (or, with options.mfaMethods.registeredSince, those registered since: a method Graph gives no creation time for is dated by its registration in the directory audit log, and one that neither dates is kept, named, and the step ends action_required), the default method last, recording each method's type, id and non-secret details; the user registers again."},
	{Name: RevokeAppConsents, Title: "Revoke the apps the user consented to", Impact: ImpactMedium, Reversible: true, RestoreWhenNamed: true,
		Description: "Deletes the delegated permission grants the user consented to for themselves (consentType Principal) and records each grant (client, resource, scope), so restore creates them again. Consents the user made as an administrator in the look-back window (tenant-wide grants, app role assignments, found through the directory audit log) are named and the step ends action_required, or removed and recorded as well with options.appConsents.includeAdminConsents."},
	{Name: Investigate, Title: "Investigate what the attacker did (sign-ins, audit log, mail sent)", Impact: ImpactNone, notAwaited: true,
		Description: "Reads what the attacker did (sign-ins, directory audit events, mailbox changes, mail sent) into a timeline; changes nothing and holds up no other step."},
	{Name: UnblockSender, Title: "Lift the block on sending mail", Default: true, Impact: ImpactLow, waitsForAll: true,
		Description: "Removes the user from the Restricted users list once every other step of the run has secured the account."},
}

// All lists every step in the order a run document shows them.
var All = func() []Name {
	out := make([]Name, len(Steps))
	for i, s := range Steps {
		out[i] = s.Name
	}
	return out
}()

// Default lists the steps of a full remediation when a request names none.
var Default = func() []Name {
	var out []Name
	for _, s := range Steps {
		if s.Default {
			out = append(out, s.Name)
		}
	}
	return out
}()

// Lookup returns the catalog entry of the step named n.
func Lookup(n Name) (Step, bool) {
	i := slices.IndexFunc(Steps, func(s Step) bool { return s.Name == n })
	if i < 0 {
		return Step{}, false
	}
	return Steps[i], true
}

// Parse returns the step named s.
func Parse(s string) (Name, bool) {
	_, ok := Lookup(Name(s))
	return Name(s), ok
}

// DependsOn returns the steps of set that must have finished before step starts:
// revoke-sessions waits for reset-password and block-sign-in (so sessions die after the old
// password and sign-in do); unblock-sender waits for every other step except investigate
// (the account must be secured first; reading the audit log secures nothing).
func DependsOn(step Name, set []Name) []Name {
	entry, ok := Lookup(step)
	if !ok {
		return nil
	}
	var deps []Name
	for _, other := range set {
		if other == step {
			continue
		}
		o, _ := Lookup(other)
		if slices.Contains(entry.After, other) || entry.waitsForAll && !o.notAwaited {
			deps = append(deps, other)
		}
	}
	return deps
}

// Dependencies lists every step the entry may wait for (its DependsOn in a run holding the
// whole catalog), as GET /api/steps answers them.
func (s Step) Dependencies() []Name {
	deps := DependsOn(s.Name, All)
	if deps == nil {
		deps = []Name{}
	}
	return deps
}

// Awaited reports whether other steps wait for this one (investigate is waited for only by
// the run's final status).
func (n Name) Awaited() bool {
	s, _ := Lookup(n)
	return !s.notAwaited
}

// Acts reports whether the step changes the tenant every time it is asked to, even on an
// account that is already clean (contract section 1).
func (n Name) Acts() bool { return n == ResetPassword || n == RevokeSessions }

// MarkdownTable renders the catalog as the step table of the README (written by go generate
// ./internal/functions and checked in sync there).
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| step | default | reversible | impact | what it does |\n|---|---|---|---|---|\n")
	for _, s := range Steps {
		def, rev := "", ""
		if s.Default {
			def = "yes"
		}
		if s.Reversible {
			rev = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", s.Name, def, rev, s.Impact, s.Description)
	}
	return b.String()
}
