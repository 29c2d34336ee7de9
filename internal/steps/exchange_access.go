package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// MailboxAccess is what the Exchange containment steps need: the mailbox's client access
// protocols, the organisation's admin role groups, and the mailbox's delegates.
type MailboxAccess interface {
	GetCASMailbox(ctx context.Context, upn string) (exchange.CASMailbox, error)
	SetMailProtocols(ctx context.Context, upn string, values map[string]any) error
	OrganizationConfig(ctx context.Context) (exchange.OrganizationConfig, error)
	RoleGroups(ctx context.Context) ([]exchange.RoleGroup, error)
	RoleGroupMembers(ctx context.Context, group string) ([]exchange.RoleGroupMember, error)
	RemoveRoleGroupMember(ctx context.Context, group, member string) error
	AddRoleGroupMember(ctx context.Context, group, member string) error
	MailboxPermissions(ctx context.Context, upn string) ([]exchange.MailboxPermission, error)
	RecipientPermissions(ctx context.Context, upn string) ([]exchange.RecipientPermission, error)
	RemoveFullAccess(ctx context.Context, upn, user, inheritance string) error
	AddFullAccess(ctx context.Context, upn, user, inheritance string) error
	RemoveSendAs(ctx context.Context, upn, trustee string) error
	AddSendAs(ctx context.Context, upn, trustee string) error
	RemoveSendOnBehalf(ctx context.Context, upn, delegate string) error
	AddSendOnBehalf(ctx context.Context, upn, delegate string) error
	// Recipient reads one recipient by GUID or SMTP address (Get-Recipient), to show who a
	// delegate list's name is.
	Recipient(ctx context.Context, identity string) (exchange.Recipient, error)
}

// The kinds of ExchangeGrant.
const (
	GrantProtocol     = "protocol"
	GrantRoleGroup    = "roleGroup"
	GrantFullAccess   = "fullAccess"
	GrantSendAs       = "sendAs"
	GrantSendOnBehalf = "sendOnBehalf"
)

// ExchangeGrant is what a restore needs to undo one change of the Exchange containment
// steps (Change.Restore): the protocol and its previous value, the role group and the
// member as Exchange named it, or the delegate and the right it held.
type ExchangeGrant struct {
	Kind     string `json:"kind"`
	Mailbox  string `json:"mailbox,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	// Value is the protocol's previous setting as Get-CASMailbox showed it (for
	// SmtpClientAuthenticationDisabled true is off); nil when it was null (the organisation's).
	Value     *bool  `json:"value,omitempty"`
	Group     string `json:"group,omitempty"` // the role group's GUID (or name)
	GroupName string `json:"groupName,omitempty"`
	Member    string `json:"member,omitempty"` // what Add-RoleGroupMember is sent
	Trustee   string `json:"trustee,omitempty"`
	// TrusteeID is the delegate's Entra object id, when it could be resolved at removal: a
	// restore grants to that object under its current name, so a renamed account or an
	// address given to someone else since never receives the grant.
	TrusteeID       string `json:"trusteeId,omitempty"`
	InheritanceType string `json:"inheritanceType,omitempty"`
}

// --- disable-mail-protocols

// protocolLabels name the settings in messages and reasons.
var protocolLabels = map[string]string{
	"OWAEnabled": "Outlook on the web", "MAPIEnabled": "MAPI (Outlook for Windows)", "EwsEnabled": "EWS",
	"ActiveSyncEnabled": "ActiveSync", "PopEnabled": "POP", "ImapEnabled": "IMAP",
	"OutlookMobileEnabled": "Outlook for iOS and Android", "MacOutlookEnabled": "Outlook for Mac",
	"SmtpClientAuthenticationDisabled": "SMTP AUTH",
}

// allProtocolsText lists every setting the step turns off, for messages.
func allProtocolsText() string {
	names := make([]string, 0, len(exchange.MailProtocols))
	for _, p := range exchange.MailProtocols {
		names = append(names, protocolLabels[p])
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func (r *Runner) disableMailProtocols(ctx context.Context, in Input) Outcome {
	const step = "disable-mail-protocols"
	var (
		mb  exchange.Mailbox
		cas exchange.CASMailbox
		org exchange.OrganizationConfig
	)
	// The organisation's EwsEnabled is read alongside: when it is false, EWS is blocked for
	// every mailbox whatever the mailbox says, and a null on the mailbox is not "on".
	errs := callEach(3, func(i int) (err error) {
		switch i {
		case 0:
			mb, err = r.Mailboxes.GetMailbox(ctx, in.Target.UPN)
		case 1:
			cas, err = r.Mailboxes.GetCASMailbox(ctx, in.Target.UPN)
		default:
			org, err = r.Mailboxes.OrganizationConfig(ctx)
		}
		return err
	})
	if exchange.IsNotFound(errs[0]) || errs[0] == nil && exchange.IsNotFound(errs[1]) {
		return Outcome{Status: runs.StepNoChange, Message: fmt.Sprintf(noMailboxMessage, "protocol access")}
	}
	if err := firstError(errs[:2]); err != nil {
		return fail(step+": read mailbox and client access settings", err, nil)
	}
	var notes []string
	orgEWSBlocked := errs[2] == nil && org.EwsEnabled != nil && !*org.EwsEnabled
	if errs[2] != nil {
		// Not a reason to leave the mailbox open: the mailbox's own setting is turned off.
		notes = append(notes, "the organisation's EWS setting could not be read (Get-OrganizationConfig: "+errs[2].Error()+"), so the mailbox's EwsEnabled was judged on its own")
	}
	if stop := checkMailboxOwner(step, mb, in.Target); stop != nil {
		return *stop
	}
	if cas.ExternalDirectoryObjectID != "" && !strings.EqualFold(cas.ExternalDirectoryObjectID, in.Target.ID) {
		// Get-Mailbox and Get-CASMailbox resolved the address to different objects.
		return *checkMailboxOwner(step, exchange.Mailbox{Identity: cas.Identity, ExternalDirectoryObjectID: cas.ExternalDirectoryObjectID}, in.Target)
	}
	var changes []runs.Change
	off := map[string]any{}
	for _, name := range exchange.MailProtocols {
		st := cas.Protocols[name]
		if !st.On() {
			continue
		}
		if name == "EwsEnabled" && orgEWSBlocked {
			// Since MC1015893 (April 2025) EWS is allowed only when the organisation allows it
			// too: the mailbox's true or null does not open it.
			notes = append(notes, fmt.Sprintf("EWS is blocked for the whole organisation (Get-OrganizationConfig EwsEnabled: false), so the mailbox's EwsEnabled (%v) was left as it is: it is not what keeps EWS off", jsonText(st.Value())))
			continue
		}
		grant := ExchangeGrant{Kind: GrantProtocol, Mailbox: in.Target.UPN, Protocol: name}
		if st.Set {
			v := st.Value().(bool)
			grant.Value = &v
		}
		offValue := exchange.ProtocolOffValue(name)
		reason := protocolLabels[name] + " lets a client reach the mailbox with a stolen password or token until the account is secured"
		if name == "SmtpClientAuthenticationDisabled" {
			reason = "SMTP AUTH lets a client send mail as the user with a stolen password; " + name + " true turns it off for the mailbox"
		}
		if !st.Set {
			reason += " (not set on the mailbox, so the organisation's setting applied; recorded as null)"
		}
		changes = append(changes, runs.Change{
			Action: "protocol_disabled", Target: in.Target.UPN + " " + name,
			Before: map[string]any{name: st.Value()}, After: map[string]any{name: offValue},
			Reasons: []string{reason}, Restore: grant,
		})
		off[name] = offValue
	}
	if len(changes) == 0 {
		msg := allProtocolsText() + " are already off for the mailbox"
		if len(notes) > 0 {
			msg += "; " + strings.Join(notes, "; ")
		}
		return Outcome{Status: runs.StepNoChange, Message: msg}
	}
	if stop := recordBeforeActing(ctx, step, in, changes); stop != nil {
		return *stop
	}
	if err := r.Mailboxes.SetMailProtocols(ctx, in.Target.UPN, off); err != nil {
		if exchange.IsNotFound(err) {
			return Outcome{Status: runs.StepNoChange, Message: fmt.Sprintf(noMailboxMessage, "protocol access")}
		}
		return fail(step+": turn the protocols off", err, nil)
	}
	msg := "the mailbox cannot be reached with " + allProtocolsText() + " until a restore (or an admin) turns them on again; mail still arrives"
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	return Outcome{Status: runs.StepSucceeded, Changes: changes, Message: msg}
}

// jsonText is a value as JSON shows it (null, true, false).
func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// --- remove-exchange-role-groups

// isRunUser reports whether a role group member is the run's user: by Entra object id when
// Exchange shows one (a differing id is never excused), else by UPN. The member's Guid is
// Exchange's own object GUID, which is not the Entra id.
func isRunUser(m exchange.RoleGroupMember, target Target) bool {
	if m.ExternalDirectoryObjectID != "" {
		return target.ID != "" && strings.EqualFold(m.ExternalDirectoryObjectID, target.ID)
	}
	return target.UPN != "" && (strings.EqualFold(m.WindowsLiveID, target.UPN) || strings.EqualFold(m.PrimarySmtpAddress, target.UPN))
}

// memberRef is how the member cmdlets are told which member: the member's Exchange GUID
// as the listing gave it (exactly the object listed), else the user's UPN.
func memberRef(m exchange.RoleGroupMember, target Target) string {
	if isGUID(m.Guid) {
		return m.Guid
	}
	return target.UPN
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

// unreadableGroup is a role group whose members could not be read: the user may be in it.
type unreadableGroup struct {
	group  exchange.RoleGroup
	reason string
}

// roleGroupScan is what roleGroupMemberships found: the groups the user is a direct member
// of (with the member as listed), the groups whose members could not be read, and how many
// groups the organisation has.
type roleGroupScan struct {
	groups     []exchange.RoleGroup
	members    []exchange.RoleGroupMember
	unreadable []unreadableGroup
	checked    int
}

// roleGroupMemberships finds the role groups the user is a direct member of. Groups whose
// Members the listing shows empty are not asked again. A user without a mailbox can be a
// member (role groups hold users, not mailboxes), so nothing here depends on a mailbox.
//
// One group whose members cannot be read (Get-RoleGroupMember refuses the groups tied to an
// Entra role or reserved for Microsoft, TenantAdmins_* and RIM-MailboxAdmins*) does not stop
// the rest: it is named in unreadable and the others are read. A group the listing gave no
// GUID for is not asked by name (exchange.RoleGroup.MemberIdentity) and is unreadable too.
// Only throttling and the end of ctx stop the scan: the step is then tried again later.
func (r *Runner) roleGroupMemberships(ctx context.Context, target Target) (roleGroupScan, error) {
	all, err := r.Mailboxes.RoleGroups(ctx)
	if err != nil {
		return roleGroupScan{}, err
	}
	scan := roleGroupScan{checked: len(all)}
	var (
		ask []exchange.RoleGroup
		ids []string
	)
	for _, g := range all {
		if g.Members != nil && len(g.Members) == 0 {
			continue
		}
		id, ok := g.MemberIdentity()
		if !ok {
			scan.unreadable = append(scan.unreadable, unreadableGroup{group: g,
				reason: "Get-RoleGroup gave no GUID for it, and it is not asked by name (a name that does not resolve can make Exchange answer every object)"})
			continue
		}
		ask, ids = append(ask, g), append(ids, id)
	}
	lists := make([][]exchange.RoleGroupMember, len(ask))
	readErrs := callEach(len(ask), func(i int) (err error) {
		lists[i], err = r.Mailboxes.RoleGroupMembers(ctx, ids[i])
		return err
	})
	for i, err := range readErrs {
		if err == nil {
			continue
		}
		if _, throttled := Throttled(err); throttled || ctx.Err() != nil {
			return roleGroupScan{}, err
		}
		// Not found included: the group was listed a moment ago, so "not found" says Exchange
		// would not show its members, not that nobody is in it.
		scan.unreadable = append(scan.unreadable, unreadableGroup{group: ask[i], reason: "Get-RoleGroupMember: " + err.Error()})
	}
	for i, list := range lists {
		if readErrs[i] != nil {
			continue
		}
		for _, m := range list {
			if isRunUser(m, target) {
				scan.groups, scan.members = append(scan.groups, ask[i]), append(scan.members, m)
				break
			}
		}
	}
	return scan, nil
}

// unreadableChanges records each group whose members could not be read, with why, so the
// run says what a person must still check. They carry no Restore: nothing was changed.
func unreadableChanges(groups []unreadableGroup) []runs.Change {
	out := make([]runs.Change, len(groups))
	for i, u := range groups {
		reasons := []string{"the members of the Exchange admin role group \"" + u.group.Label() + "\" could not be read (" + u.reason + "): whether the user is a member is not known"}
		if why, ok := u.group.ServiceManaged(); ok {
			reasons = append(reasons, "its membership is not managed in Exchange Online: "+why)
		}
		out[i] = runs.Change{Action: "role_group_unreadable", Target: u.group.Label(),
			Before: map[string]any{"group": u.group.Label(), "groupGuid": u.group.Guid, "error": u.reason}, Reasons: reasons}
	}
	return out
}

// unreadableNote is the step message's sentence on the groups that could not be read.
func unreadableNote(groups []unreadableGroup) string {
	names := make([]string, len(groups))
	for i, u := range groups {
		names[i] = u.group.Label()
		if why, ok := u.group.ServiceManaged(); ok {
			names[i] += " (" + why + ")"
		}
	}
	return fmt.Sprintf("the members of %d role group(s) could not be read, so whether the user is in them is not known: %s. A person must check them (Exchange admin center > Roles > Admin roles, or the Entra role the group follows)",
		len(groups), strings.Join(names, "; "))
}

func (r *Runner) removeExchangeRoleGroups(ctx context.Context, in Input) Outcome {
	const step = "remove-exchange-role-groups"
	scan, err := r.roleGroupMemberships(ctx, in.Target)
	if err != nil {
		return fail(step+": read role groups and their members", err, nil)
	}
	groups, members := scan.groups, scan.members
	unread := unreadableChanges(scan.unreadable)
	if len(groups) == 0 {
		msg := fmt.Sprintf("the user is a direct member of none of the %d Exchange admin role groups", scan.checked)
		if len(scan.unreadable) == 0 {
			return Outcome{Status: runs.StepNoChange, Message: msg}
		}
		msg = fmt.Sprintf("the user is a direct member of none of the %d Exchange admin role groups whose members could be read; %s", scan.checked-len(scan.unreadable), unreadableNote(scan.unreadable))
		return Outcome{Status: runs.StepActionRequired, Message: msg, Changes: unread}
	}
	changes := make([]runs.Change, len(groups))
	refs := make([]string, len(groups))
	for i, g := range groups {
		refs[i] = memberRef(members[i], in.Target)
		before := map[string]any{"group": g.Label(), "groupGuid": g.Guid, "member": members[i].Raw}
		if members[i].Raw == nil {
			before["member"] = map[string]any{"Guid": members[i].Guid, "ExternalDirectoryObjectId": members[i].ExternalDirectoryObjectID, "WindowsLiveID": members[i].WindowsLiveID}
		}
		changes[i] = runs.Change{
			Action: "role_group_member_removed", Target: g.Label(), Before: before,
			Reasons: []string{"membership of the Exchange admin role group \"" + g.Label() + "\" gives a compromised account Exchange administration rights"},
			Restore: ExchangeGrant{Kind: GrantRoleGroup, Group: g.Guid, GroupName: g.Label(), Member: refs[i]},
		}
	}
	if stop := recordBeforeActing(ctx, step, in, append(slices.Clip(changes), unread...)); stop != nil {
		return *stop
	}
	errs := callEach(len(groups), func(i int) error {
		return r.Mailboxes.RemoveRoleGroupMember(ctx, groups[i].Guid, refs[i])
	})
	// "Not found" may mean the membership went meanwhile, or that Exchange did not resolve the
	// member as named: only a fresh listing tells which, and only the first is "already gone".
	_ = callEach(len(groups), func(i int) error {
		if !exchange.IsNotFound(errs[i]) {
			return nil
		}
		members, err := r.Mailboxes.RoleGroupMembers(ctx, groups[i].Guid)
		if err != nil {
			return nil // the group itself is gone, or cannot be read: the answer stands
		}
		for _, m := range members {
			if isRunUser(m, in.Target) {
				errs[i] = &notRemovedError{what: "the membership of " + groups[i].Label()}
			}
		}
		return nil
	})
	out := settle(step, "remove from role group", changes, errs,
		"the user is no longer a member of those role groups", "Exchange applies role group changes within about an hour")
	if len(scan.unreadable) == 0 {
		return out
	}
	// The groups that could not be read still need a person, whatever was removed.
	out.Changes = append(out.Changes, unread...)
	out.Message = strings.TrimPrefix(out.Message+"; "+unreadableNote(scan.unreadable), "; ")
	if out.Status == runs.StepSucceeded || out.Status == runs.StepNoChange {
		out.Status = runs.StepActionRequired
	}
	return out
}

// notRemovedError is a removal Exchange answered with success (or not-found) while the grant
// is still listed afterwards: Exchange only warns when asked to remove an entry it does not
// match, so a success alone does not prove the grant is gone.
type notRemovedError struct{ what string }

func (e *notRemovedError) Error() string {
	return e.what + " is still there after Exchange answered the removal; it is not recorded as removed. " +
		"Check how Exchange names the trustee or member and remove it by hand"
}

// delegateRechecks is how many times verifyDelegatesGone reads the grants after the
// removals before it concludes one was not removed: Exchange Online replicates between its
// servers, so a read right after a change can still show the old value.
const delegateRechecks = 3

// defaultDelegateRecheckWait is Runner.DelegateRecheckWait's default: the waits between the
// reads are 1 and 2 times it (3 s in all at most).
const defaultDelegateRecheckWait = time.Second

// verifyDelegatesGone reads the permissions again after the removals and turns every
// removal whose grant is still listed after delegateRechecks reads (a short, bounded
// backoff between them) into a notRemovedError. When a listing cannot be read, Exchange's
// answers stand.
func (r *Runner) verifyDelegatesGone(ctx context.Context, upn string, plan []delegate, errs []error) {
	var pending []int
	for i := range plan {
		if errs[i] == nil || exchange.IsNotFound(errs[i]) {
			pending = append(pending, i)
		}
	}
	wait := r.DelegateRecheckWait
	if wait <= 0 {
		wait = defaultDelegateRecheckWait
	}
	for attempt := 0; attempt < delegateRechecks && len(pending) > 0; attempt++ {
		if attempt > 0 && sleepCtx(ctx, time.Duration(attempt)*wait) != nil {
			return // the answers stand
		}
		pending = r.delegatesStillListed(ctx, upn, plan, pending)
	}
	for _, i := range pending {
		errs[i] = &notRemovedError{what: plan[i].change.Target}
	}
}

// delegatesStillListed reads the listings the pending removals need and answers those whose
// grant is still listed; one whose listing cannot be read is dropped (Exchange's answer stands).
func (r *Runner) delegatesStillListed(ctx context.Context, upn string, plan []delegate, pending []int) []int {
	var (
		mb     exchange.Mailbox
		full   []exchange.MailboxPermission
		sendAs []exchange.RecipientPermission
		need   = map[string]bool{}
	)
	for _, i := range pending {
		need[plan[i].change.Restore.(ExchangeGrant).Kind] = true
	}
	kinds := []string{GrantFullAccess, GrantSendAs, GrantSendOnBehalf}
	readErrs := callEach(len(kinds), func(i int) (err error) {
		switch k := kinds[i]; {
		case !need[k]:
		case k == GrantFullAccess:
			full, err = r.Mailboxes.MailboxPermissions(ctx, upn)
		case k == GrantSendAs:
			sendAs, err = r.Mailboxes.RecipientPermissions(ctx, upn)
		default:
			mb, err = r.Mailboxes.GetMailbox(ctx, upn)
		}
		return err
	})
	var still []int
	for _, i := range pending {
		g := plan[i].change.Restore.(ExchangeGrant)
		if readErrs[slices.Index(kinds, g.Kind)] == nil && grantListed(g, mb, full, sendAs) {
			still = append(still, i)
		}
	}
	return still
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// delegateRecipient is who a GrantSendOnBehalfTo name is, for the evidence.
type delegateRecipient struct {
	recipient exchange.Recipient
	err       error
}

// resolveSendOnBehalf reads the recipient behind every GrantSendOnBehalfTo name that is a
// GUID (Exchange Online names many recipients by one), so the evidence says whose address it
// is. Only a validated GUID is sent to Get-Recipient (an Identity that does not resolve may
// make it answer every recipient); a failed look-up is noted, never a reason to stop.
func (r *Runner) resolveSendOnBehalf(ctx context.Context, names []string) map[string]delegateRecipient {
	var ask []string
	for _, n := range names {
		if isGUID(n) && !slices.Contains(ask, n) {
			ask = append(ask, n)
		}
	}
	got := make([]delegateRecipient, len(ask))
	_ = callEach(len(ask), func(i int) error {
		got[i].recipient, got[i].err = r.Mailboxes.Recipient(ctx, ask[i])
		return nil
	})
	out := make(map[string]delegateRecipient, len(ask))
	for i, n := range ask {
		out[n] = got[i]
	}
	return out
}

// sendOnBehalfEvidence is a GrantSendOnBehalfTo entry as recorded: the name Exchange listed
// and, for a GUID, the recipient it resolved to (or why it did not).
func sendOnBehalfEvidence(name string, res delegateRecipient, looked bool) (before map[string]any, label string) {
	before = map[string]any{"GrantSendOnBehalfTo": name}
	label = name
	switch {
	case !looked:
	case res.err != nil:
		before["recipientUnresolved"] = "Get-Recipient " + name + ": " + res.err.Error()
	default:
		rc := res.recipient
		before["recipient"] = map[string]any{"primarySmtpAddress": rc.PrimarySmtpAddress, "displayName": rc.DisplayName,
			"name": rc.Name, "externalDirectoryObjectId": rc.ExternalDirectoryObjectID, "recipientTypeDetails": rc.RecipientTypeDetails}
		who := rc.PrimarySmtpAddress
		if who == "" {
			who = rc.DisplayName
		}
		if who != "" {
			label = who + " (" + name + ")"
		}
	}
	return before, label
}

// grantListed reports whether the listings still show the grant g describes.
func grantListed(g ExchangeGrant, mb exchange.Mailbox, full []exchange.MailboxPermission, sendAs []exchange.RecipientPermission) bool {
	switch g.Kind {
	case GrantFullAccess:
		return slices.ContainsFunc(full, func(p exchange.MailboxPermission) bool {
			return !p.IsInherited && !p.Deny && p.Has("FullAccess") && strings.EqualFold(p.User, g.Trustee)
		})
	case GrantSendAs:
		return slices.ContainsFunc(sendAs, func(p exchange.RecipientPermission) bool {
			return !p.IsInherited && !strings.EqualFold(p.AccessControlType, "Deny") && p.Has("SendAs") && strings.EqualFold(p.Trustee, g.Trustee)
		})
	case GrantSendOnBehalf:
		return slices.ContainsFunc(mb.GrantSendOnBehalfTo, func(d string) bool { return strings.EqualFold(d, g.Trustee) })
	}
	return false
}

// settle turns the results of one call per change into the step's outcome: a not-found
// answer means the grant was already gone (not a change of this step, not a failure).
func settle(step, what string, planned []runs.Change, errs []error, noneLeft, done string) Outcome {
	var (
		changes  []runs.Change
		gone     []string
		firstErr error
		failed   string
	)
	for i, c := range planned {
		switch err := errs[i]; {
		case exchange.IsNotFound(err):
			gone = append(gone, c.Target)
		case err != nil:
			if firstErr == nil {
				firstErr, failed = err, c.Target
			}
		default:
			changes = append(changes, c)
		}
	}
	var note string
	if len(gone) > 0 {
		note = "already gone when they were to be removed: " + strings.Join(gone, ", ")
	}
	var notRemoved *notRemovedError
	switch {
	case errors.As(firstErr, &notRemoved):
		return Outcome{Status: runs.StepFailed, Changes: changes, Message: note,
			Error: &runs.Error{Code: "not_removed", Message: step + ": " + notRemoved.Error()}}
	case firstErr != nil:
		out := fail(fmt.Sprintf("%s: %s %s", step, what, failed), firstErr, changes)
		out.Message = note
		return out
	case len(changes) == 0:
		return Outcome{Status: runs.StepNoChange, Message: noneLeft + " (" + note + ")"}
	case note != "":
		done += "; " + note
	}
	return Outcome{Status: runs.StepSucceeded, Changes: changes, Message: done}
}

// --- remove-mailbox-delegates

// delegate is one grant on the mailbox that remove-mailbox-delegates takes away.
type delegate struct {
	change runs.Change
	remove func(ctx context.Context) error
}

// isDelegateTrustee excludes what is not a delegate: Windows principals (NT AUTHORITY\SELF
// is the owner's own access; the others are Exchange's), and the owner named by UPN.
func isDelegateTrustee(name string, target Target) bool {
	return strings.TrimSpace(name) != "" && !exchange.IsSystemPrincipal(name) && !strings.EqualFold(name, target.UPN)
}

// isRunUserRecipient reports whether a recipient is the run's user (by object id).
func isRunUserRecipient(rc exchange.Recipient, target Target) bool {
	return rc.ExternalDirectoryObjectID != "" && target.ID != "" && strings.EqualFold(rc.ExternalDirectoryObjectID, target.ID)
}

func (r *Runner) removeMailboxDelegates(ctx context.Context, in Input) Outcome {
	const step = "remove-mailbox-delegates"
	var (
		mb         exchange.Mailbox
		fullAccess []exchange.MailboxPermission
		sendAs     []exchange.RecipientPermission
	)
	errs := callEach(3, func(i int) (err error) {
		switch i {
		case 0:
			mb, err = r.Mailboxes.GetMailbox(ctx, in.Target.UPN)
		case 1:
			fullAccess, err = r.Mailboxes.MailboxPermissions(ctx, in.Target.UPN)
		default:
			sendAs, err = r.Mailboxes.RecipientPermissions(ctx, in.Target.UPN)
		}
		return err
	})
	if exchange.IsNotFound(errs[0]) || errs[0] == nil && (exchange.IsNotFound(errs[1]) || exchange.IsNotFound(errs[2])) {
		return Outcome{Status: runs.StepNoChange, Message: fmt.Sprintf(noMailboxMessage, "delegate")}
	}
	if err := firstError(errs); err != nil {
		return fail(step+": read mailbox and its permissions", err, nil)
	}
	if stop := checkMailboxOwner(step, mb, in.Target); stop != nil {
		return *stop
	}
	upn := in.Target.UPN
	var plan []delegate
	for _, p := range fullAccess {
		if !p.Has("FullAccess") || p.IsInherited || p.Deny || !isDelegateTrustee(p.User, in.Target) {
			continue // inherited, a Deny, SELF or a system principal: not a delegate
		}
		p := p
		plan = append(plan, delegate{
			change: runs.Change{
				Action: "full_access_removed", Target: "FullAccess: " + p.User, Before: permissionEvidence(p.Raw, p.User, p.AccessRights),
				Reasons: []string{p.User + " can open and read the whole mailbox (explicit FullAccess, a way an attacker keeps access)"},
				Restore: ExchangeGrant{Kind: GrantFullAccess, Mailbox: upn, Trustee: p.User, InheritanceType: p.InheritanceType},
			},
			remove: func(ctx context.Context) error {
				return r.Mailboxes.RemoveFullAccess(ctx, upn, p.User, p.InheritanceType)
			},
		})
	}
	for _, p := range sendAs {
		if !p.Has("SendAs") || p.IsInherited || strings.EqualFold(p.AccessControlType, "Deny") || !isDelegateTrustee(p.Trustee, in.Target) {
			continue
		}
		p := p
		plan = append(plan, delegate{
			change: runs.Change{
				Action: "send_as_removed", Target: "SendAs: " + p.Trustee, Before: permissionEvidence(p.Raw, p.Trustee, p.AccessRights),
				Reasons: []string{p.Trustee + " can send mail as the user (SendAs)"},
				Restore: ExchangeGrant{Kind: GrantSendAs, Mailbox: upn, Trustee: p.Trustee},
			},
			remove: func(ctx context.Context) error { return r.Mailboxes.RemoveSendAs(ctx, upn, p.Trustee) },
		})
	}
	resolved := r.resolveSendOnBehalf(ctx, mb.GrantSendOnBehalfTo)
	for _, d := range mb.GrantSendOnBehalfTo {
		if !isDelegateTrustee(d, in.Target) {
			continue
		}
		d := d
		res, looked := resolved[d]
		if looked && res.err == nil && isRunUserRecipient(res.recipient, in.Target) {
			continue // the owner named by GUID: not a delegate
		}
		before, who := sendOnBehalfEvidence(d, res, looked)
		plan = append(plan, delegate{
			change: runs.Change{
				Action: "send_on_behalf_removed", Target: "SendOnBehalf: " + who, Before: before,
				Reasons: []string{who + " can send mail on behalf of the user (GrantSendOnBehalfTo)"},
				Restore: ExchangeGrant{Kind: GrantSendOnBehalf, Mailbox: upn, Trustee: d},
			},
			remove: func(ctx context.Context) error { return r.Mailboxes.RemoveSendOnBehalf(ctx, upn, d) },
		})
	}
	if len(plan) == 0 {
		return Outcome{Status: runs.StepNoChange, Message: "the mailbox has no delegates: no explicit FullAccess or SendAs other than NT AUTHORITY\\SELF and inherited entries, and no SendOnBehalf"}
	}
	r.resolveTrustees(ctx, plan, resolved)
	planned := changesOf(plan, func(d delegate) runs.Change { return d.change })
	if stop := recordBeforeActing(ctx, step, in, planned); stop != nil {
		return *stop
	}
	errs = callEach(len(plan), func(i int) error { return plan[i].remove(ctx) })
	r.verifyDelegatesGone(ctx, upn, plan, errs)
	return settle(step, "remove delegate", planned, errs, "the mailbox has no delegates left",
		"the delegates can no longer open the mailbox or send as or on behalf of the user")
}

// permissionEvidence is the permission entry as Exchange listed it, so a person can judge
// it and a restore can recreate it.
func permissionEvidence(raw map[string]any, who string, rights []string) any {
	if len(raw) > 0 {
		return raw
	}
	return map[string]any{"User": who, "AccessRights": rights}
}

// --- restore

// restoreExchangeAccess undoes one change of the Exchange containment steps: the protocol
// goes back to its recorded value, the user back into the role group, the delegate's right
// back on the mailbox. What is already there is reported already_present and left alone.
func (r *Runner) restoreExchangeAccess(ctx context.Context, step Name, user runs.UserRef, c runs.Change) ([]runs.Change, error) {
	var g ExchangeGrant
	raw, _ := json.Marshal(c.Restore)
	if err := json.Unmarshal(raw, &g); err != nil || g.Kind == "" {
		return nil, fmt.Errorf("the record of %s is not a change restore can undo", c.Target)
	}
	want := map[Name][]string{
		DisableMailProtocols:     {GrantProtocol},
		RemoveExchangeRoleGroups: {GrantRoleGroup},
		RemoveMailboxDelegates:   {GrantFullAccess, GrantSendAs, GrantSendOnBehalf},
	}[step]
	known := false
	for _, k := range want {
		known = known || k == g.Kind
	}
	if !known {
		return nil, fmt.Errorf("a %s change of kind %q is not one %s made", c.Action, g.Kind, step)
	}
	target := Target{ID: user.ID, UPN: user.UserPrincipalName}
	if g.TrusteeID != "" {
		// The delegate the record names by object id, under its name now.
		u, err := r.Directory.GetUser(ctx, g.TrusteeID)
		if err != nil {
			return nil, fmt.Errorf("the delegate's account (object id %s) could not be read, so nothing was granted: %w", g.TrusteeID, err)
		}
		if !strings.EqualFold(u.ID, g.TrusteeID) || u.UserPrincipalName == "" {
			return nil, fmt.Errorf("the directory answered another object for the delegate %s; nothing was granted", g.TrusteeID)
		}
		g.Trustee = u.UserPrincipalName
	}
	present, err := r.grantPresent(ctx, g, target)
	if err != nil {
		return nil, err
	}
	out := runs.Change{Action: "restored", Target: c.Target, After: g, Reasons: []string{"put back what the run recorded as removed (" + c.Action + ")"}}
	if present {
		out.Action = "already_present"
		return []runs.Change{out}, nil
	}
	switch g.Kind {
	case GrantProtocol:
		value := exchange.ProtocolRestoreValue(g.Protocol, g.Value)
		if g.Value == nil && value != nil {
			out.Reasons = append(out.Reasons, fmt.Sprintf("%s was null (the organisation's setting); Set-CASMailbox takes only $true or $false for it, so it was set to %v, the documented default, which has the same effect: the organisation's EwsEnabled still decides (MC1015893)", g.Protocol, value))
		}
		err = r.Mailboxes.SetMailProtocols(ctx, g.Mailbox, map[string]any{g.Protocol: value})
	case GrantRoleGroup:
		// Only the run's own user goes back into the group, whatever member the record names:
		// resolved now by its object id, so neither an edited record nor a renamed account or
		// a recycled address can send the role group to another object.
		var member string
		if member, err = r.runUserNow(ctx, user); err == nil {
			err = r.Mailboxes.AddRoleGroupMember(ctx, g.Group, member)
		}
		if isAlreadyMember(err) {
			out.Action = "already_present"
			err = nil
		}
	case GrantFullAccess:
		err = r.Mailboxes.AddFullAccess(ctx, g.Mailbox, g.Trustee, g.InheritanceType)
	case GrantSendAs:
		err = r.Mailboxes.AddSendAs(ctx, g.Mailbox, g.Trustee)
	case GrantSendOnBehalf:
		err = r.Mailboxes.AddSendOnBehalf(ctx, g.Mailbox, g.Trustee)
	}
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", c.Target, err)
	}
	return []runs.Change{out}, nil
}

// isAlreadyMember recognises Add-RoleGroupMember's answer for a member that is there.
func isAlreadyMember(err error) bool {
	var e *exchange.Error
	return errors.As(err, &e) && (strings.HasSuffix(e.Type, "MemberAlreadyExistsException") || strings.Contains(e.Message, "is already a member"))
}

// grantPresent reads whether what g describes is in place now. A mailbox change first
// checks that the mailbox is still the run user's: a restore must not grant rights on a
// mailbox somebody else now holds the address of.
func (r *Runner) grantPresent(ctx context.Context, g ExchangeGrant, target Target) (bool, error) {
	if g.Kind == GrantRoleGroup {
		members, err := r.Mailboxes.RoleGroupMembers(ctx, g.Group)
		if err != nil {
			return false, fmt.Errorf("read role group %s: %w", g.GroupName, err)
		}
		for _, m := range members {
			if isRunUser(m, target) {
				return true, nil
			}
		}
		return false, nil
	}
	mb, err := r.Mailboxes.GetMailbox(ctx, g.Mailbox)
	if err != nil {
		return false, fmt.Errorf("read mailbox %s: %w", g.Mailbox, err)
	}
	if out := checkMailboxOwner("restore", mb, target); out != nil {
		return false, errors.New(out.Error.Message)
	}
	switch g.Kind {
	case GrantProtocol:
		cas, err := r.Mailboxes.GetCASMailbox(ctx, g.Mailbox)
		if err != nil {
			return false, fmt.Errorf("read client access settings of %s: %w", g.Mailbox, err)
		}
		now := cas.Protocols[g.Protocol]
		if g.Value == nil {
			// A null the cmdlet does not take is restored as its default; either is the
			// recorded state.
			restored, _ := exchange.ProtocolRestoreValue(g.Protocol, nil).(bool)
			return !now.Set || !exchange.ProtocolAcceptsNull(g.Protocol) && now.Value() == restored, nil
		}
		return now.Set && now.Value() == *g.Value, nil
	case GrantFullAccess:
		perms, err := r.Mailboxes.MailboxPermissions(ctx, g.Mailbox)
		if err != nil {
			return false, fmt.Errorf("read permissions of %s: %w", g.Mailbox, err)
		}
		return grantListed(g, mb, perms, nil), nil
	case GrantSendAs:
		perms, err := r.Mailboxes.RecipientPermissions(ctx, g.Mailbox)
		if err != nil {
			return false, fmt.Errorf("read SendAs of %s: %w", g.Mailbox, err)
		}
		return grantListed(g, mb, nil, perms), nil
	}
	return grantListed(g, mb, nil, nil), nil
}

// runUserNow reads the run's user from the directory by object id and answers its current
// UPN, the name Exchange is sent: a restore grants to that object and no other.
func (r *Runner) runUserNow(ctx context.Context, user runs.UserRef) (string, error) {
	u, err := r.Directory.GetUser(ctx, user.ID)
	if err != nil {
		return "", fmt.Errorf("read the run's user %s by object id: %w", user.ID, err)
	}
	if !strings.EqualFold(u.ID, user.ID) || u.UserPrincipalName == "" {
		return "", fmt.Errorf("the directory answered another object (%s) for the run's user %s", u.ID, user.ID)
	}
	return u.UserPrincipalName, nil
}

// resolveTrustees records each delegate's Entra object id in its restore payload, where the
// name Exchange listed can be resolved: an address through the directory, a SendOnBehalf
// GUID through what Get-Recipient answered for it. A name that resolves to nothing (a
// Windows principal, a deleted account) keeps only its name, and a restore grants by name.
func (r *Runner) resolveTrustees(ctx context.Context, plan []delegate, recipients map[string]delegateRecipient) {
	ids := make([]string, len(plan))
	callEach(len(plan), func(i int) error {
		g, ok := plan[i].change.Restore.(ExchangeGrant)
		if !ok {
			return nil
		}
		if res, looked := recipients[g.Trustee]; looked && res.err == nil && graph.ValidID(res.recipient.ExternalDirectoryObjectID) {
			ids[i] = res.recipient.ExternalDirectoryObjectID
			return nil
		}
		if !strings.Contains(g.Trustee, "@") || !graph.ValidUPN(g.Trustee) {
			return nil
		}
		if u, err := r.Directory.GetUser(ctx, g.Trustee); err == nil && graph.ValidID(u.ID) {
			ids[i] = u.ID
		}
		return nil
	})
	for i, id := range ids {
		if g, ok := plan[i].change.Restore.(ExchangeGrant); ok && id != "" {
			g.TrusteeID = strings.ToLower(id)
			plan[i].change.Restore = g
		}
	}
}
