package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/inboxrules"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// noMailboxMessage is the note of a mailbox step for a user Exchange has no mailbox for.
const noMailboxMessage = "the user has no Exchange Online mailbox (no Exchange licence, or the mailbox was removed): there is no mailbox-level %s to remove"

// ownMailbox reads the user's mailbox and checks that Exchange resolved the run's user: the
// mailbox's ExternalDirectoryObjectId must be the user's object id. Exchange resolves the
// UPN among all its recipients, so a recycled address, a stale sync or another object
// holding the address as a proxy could make it answer for somebody else; changing that
// mailbox would be worse than changing nothing. A nil *Outcome means "go on".
func (r *Runner) ownMailbox(ctx context.Context, step, what string, in Input) (exchange.Mailbox, *Outcome) {
	mb, err := r.Mailboxes.GetMailbox(ctx, in.Target.UPN)
	switch {
	case exchange.IsNotFound(err):
		return mb, &Outcome{Status: runs.StepNoChange, Message: fmt.Sprintf(noMailboxMessage, what)}
	case err != nil:
		out := fail(step+": read mailbox", err, nil)
		return mb, &out
	}
	if out := checkMailboxOwner(step, mb, in.Target); out != nil {
		return mb, out
	}
	return mb, nil
}

// checkMailboxOwner fails the step, permanently, when the mailbox is not the run's user's.
func checkMailboxOwner(step string, mb exchange.Mailbox, target Target) *Outcome {
	if target.ID != "" && strings.EqualFold(mb.ExternalDirectoryObjectID, target.ID) {
		return nil
	}
	// A service that leaves the object id out entirely (Exchange Online always sends it for
	// a user mailbox) is held to the next-best proof: the mailbox's own UPN is the user's.
	// A differing object id is never excused.
	if mb.ExternalDirectoryObjectID == "" && target.UPN != "" && strings.EqualFold(mb.UserPrincipalName, target.UPN) {
		return nil
	}
	owner := mb.ExternalDirectoryObjectID
	if owner == "" {
		owner = "no ExternalDirectoryObjectId"
	}
	return &Outcome{Status: runs.StepFailed, Error: &runs.Error{Code: "mailbox_mismatch", Message: fmt.Sprintf(
		"%s: Exchange resolved %s to the mailbox %q whose directory object is %s, not the user %s; nothing was changed. "+
			"Check in Exchange which recipient holds this address before running the step again.",
		step, target.UPN, mb.Identity, owner, target.ID)}}
}

func (r *Runner) removeForwarding(ctx context.Context, in Input) Outcome {
	mb, stop := r.ownMailbox(ctx, "remove-forwarding", "forwarding", in)
	if stop != nil {
		return *stop
	}
	if mb.ForwardingSmtpAddress == "" && mb.ForwardingAddress == "" && !mb.DeliverToMailboxAndForward {
		return Outcome{Status: runs.StepNoChange, Message: "no mailbox-level forwarding is set"}
	}
	var reasons []string
	if mb.ForwardingSmtpAddress != "" {
		reasons = append(reasons, "forwards all mail to "+inboxrules.ExtractAddress(mb.ForwardingSmtpAddress))
	}
	if mb.ForwardingAddress != "" {
		reasons = append(reasons, "forwards all mail to recipient "+mb.ForwardingAddress)
	}
	if mb.DeliverToMailboxAndForward {
		reasons = append(reasons, "keeps a copy in the mailbox so the forwarding goes unnoticed")
	}
	change := runs.Change{
		Action: "forwarding_removed", Target: in.Target.UPN,
		Before: map[string]any{
			"ForwardingSmtpAddress":      mb.ForwardingSmtpAddress,
			"ForwardingAddress":          mb.ForwardingAddress,
			"DeliverToMailboxAndForward": mb.DeliverToMailboxAndForward,
		},
		After:   map[string]any{"ForwardingSmtpAddress": nil, "ForwardingAddress": nil, "DeliverToMailboxAndForward": false},
		Reasons: reasons,
	}
	if stop := recordBeforeActing(ctx, "remove-forwarding", in, []runs.Change{change}); stop != nil {
		return *stop
	}
	if err := r.Mailboxes.ClearForwarding(ctx, in.Target.UPN); err != nil {
		if exchange.IsNotFound(err) {
			// The mailbox went away between the read and the change: nothing forwards now.
			return Outcome{Status: runs.StepNoChange, Message: fmt.Sprintf(noMailboxMessage, "forwarding")}
		}
		return fail("remove-forwarding: clear forwarding", err, nil)
	}
	return Outcome{Status: runs.StepSucceeded, Changes: []runs.Change{change}}
}

func (r *Runner) removeInboxRules(ctx context.Context, in Input) Outcome {
	// The mailbox (for the owner check), the rules and the accepted domains are read
	// concurrently; none of them cancels the others, so a missing mailbox is told apart from
	// a failed listing.
	var (
		mb       exchange.Mailbox
		accepted inboxrules.Domains
		rules    []exchange.InboxRule
	)
	errs := callEach(3, func(i int) (err error) {
		switch i {
		case 0:
			mb, err = r.Mailboxes.GetMailbox(ctx, in.Target.UPN)
		case 1:
			rules, err = r.Mailboxes.InboxRules(ctx, in.Target.UPN)
		default:
			accepted, err = r.acceptedDomains(ctx, in.Target)
		}
		return err
	})
	if exchange.IsNotFound(errs[0]) || errs[0] == nil && exchange.IsNotFound(errs[1]) {
		return Outcome{Status: runs.StepNoChange, Message: fmt.Sprintf(noMailboxMessage, "inbox rule")}
	}
	if err := firstError(errs); err != nil {
		return fail("remove-inbox-rules: read mailbox, rules and accepted domains", err, nil)
	}
	if stop := checkMailboxOwner("remove-inbox-rules", mb, in.Target); stop != nil {
		return *stop
	}
	del := in.Options.InboxRules.Action == "delete"
	all := in.Options.InboxRules.Scope == "all"
	action := "disabled"
	if del {
		action = "deleted"
	}
	// Classify first (no I/O), then act on the chosen rules concurrently: each rule is
	// disabled or removed by its own call, independent of the others.
	type planned struct {
		rule   exchange.InboxRule
		change runs.Change
	}
	var plan []planned
	for _, rule := range rules {
		if inboxrules.IsSystem(rule) {
			continue
		}
		reasons := inboxrules.Classify(rule, accepted)
		if len(reasons) == 0 && !all {
			continue
		}
		if !del && !rule.Enabled {
			continue // already disabled: nothing to do, and a re-run stays no_change
		}
		if len(reasons) == 0 {
			reasons = []string{"scope \"all\": every non-system rule is removed"}
		}
		plan = append(plan, planned{rule: rule, change: runs.Change{Action: action, Target: ruleTarget(rule), Before: ruleEvidence(rule), Reasons: reasons}})
	}
	errs = make([]error, len(plan))
	if !in.DryRun {
		if stop := recordBeforeActing(ctx, "remove-inbox-rules", in, changesOf(plan, func(p planned) runs.Change { return p.change })); stop != nil {
			return *stop
		}
		errs = callEach(len(plan), func(i int) error {
			if del {
				return r.Mailboxes.RemoveInboxRule(ctx, in.Target.UPN, plan[i].rule.Identity)
			}
			return r.Mailboxes.DisableInboxRule(ctx, in.Target.UPN, plan[i].rule.Identity)
		})
	}
	// Record every change that was made, in the listing's order, even when another rule
	// failed: a retry finds those rules done and does not record them twice.
	var (
		changes  []runs.Change
		gone     []string
		firstErr error
		failed   exchange.InboxRule
	)
	for i, p := range plan {
		switch err := errs[i]; {
		case exchange.IsNotFound(err):
			// Removed between the listing and the action (the user, another delivery, the
			// attacker): it is already gone, which is what the step wanted.
			gone = append(gone, fmt.Sprintf("%q", p.rule.Name))
		case err != nil:
			if firstErr == nil {
				firstErr, failed = err, p.rule
			}
		default:
			changes = append(changes, p.change)
		}
	}
	var note string
	if len(gone) > 0 {
		note = fmt.Sprintf("%d suspicious rule(s) were already gone when they were to be %s: %s", len(gone), action, strings.Join(gone, ", "))
	}
	if firstErr != nil {
		out := fail(fmt.Sprintf("remove-inbox-rules: %s rule %q", strings.TrimSuffix(action, "d"), failed.Name), firstErr, changes)
		out.Message = note
		return out
	}
	switch {
	case len(changes) == 0:
		msg := fmt.Sprintf("%d inbox rules checked (hidden ones included); none to remove", len(rules))
		if note != "" {
			msg = fmt.Sprintf("%d inbox rules checked (hidden ones included); %s", len(rules), note)
		}
		return Outcome{Status: runs.StepNoChange, Message: msg}
	case in.DryRun:
		return Outcome{Status: runs.StepPlanned, Changes: changes}
	}
	return Outcome{Status: runs.StepSucceeded, Changes: changes, Message: note}
}

func ruleTarget(r exchange.InboxRule) string {
	if r.Identity != "" {
		return fmt.Sprintf("%s (%q)", r.Identity, r.Name)
	}
	return r.Name
}

// ruleEvidence is the full rule definition as Exchange returned it, so a person can judge
// or recreate it.
func ruleEvidence(r exchange.InboxRule) map[string]any {
	if len(r.Raw) > 0 {
		ev := make(map[string]any, len(r.Raw)+1)
		for k, v := range r.Raw {
			ev[k] = v
		}
		ev["Hidden"] = r.Hidden
		return ev
	}
	return map[string]any{"Identity": r.Identity, "Name": r.Name, "Enabled": r.Enabled, "Hidden": r.Hidden}
}

func (r *Runner) unblockSender(ctx context.Context, in Input) Outcome {
	if reason := notSecured(in); reason != "" {
		return Outcome{Status: runs.StepSkipped, Message: "the sender was not unblocked because the account is not secured yet: " + reason + ". Run unblock-sender on its own once that is resolved."}
	}
	addresses := []string{in.Target.UPN}
	if in.Target.Mail != "" && !strings.EqualFold(in.Target.Mail, in.Target.UPN) {
		addresses = append(addresses, in.Target.Mail)
	}
	// The UPN and the primary address are looked up concurrently; each block found is then
	// lifted by its own call.
	found := make([][]exchange.BlockedSender, len(addresses))
	if err := firstError(callEach(len(addresses), func(i int) (err error) {
		found[i], err = r.Mailboxes.BlockedSenders(ctx, addresses[i])
		return err
	})); err != nil {
		return fail("unblock-sender: read restricted users", err, nil)
	}
	var blocked []exchange.BlockedSender
	for _, list := range found {
		blocked = append(blocked, list...)
	}
	unblocked := func(b exchange.BlockedSender) runs.Change {
		return runs.Change{
			Action: "sender_unblocked", Target: b.SenderAddress, Before: blockedEvidence(b),
			Reasons: []string{"the account is secured (every other step succeeded or had nothing to change), so it may send mail again"},
		}
	}
	errs := make([]error, len(blocked))
	if !in.DryRun {
		if stop := recordBeforeActing(ctx, "unblock-sender", in, changesOf(blocked, unblocked)); stop != nil {
			return *stop
		}
		errs = callEach(len(blocked), func(i int) error {
			return r.Mailboxes.RemoveBlockedSender(ctx, blocked[i].SenderAddress)
		})
	}
	var (
		changes  []runs.Change
		gone     []string
		firstErr error
	)
	for i, b := range blocked {
		switch err := errs[i]; {
		case exchange.IsNotFound(err):
			// Lifted between the listing and the removal (by an admin, or Exchange's own
			// release): nothing was changed by this step, and nothing is left to do.
			gone = append(gone, b.SenderAddress)
			continue
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		changes = append(changes, unblocked(b))
	}
	if firstErr != nil {
		return fail("unblock-sender: remove from restricted users", firstErr, changes)
	}
	var note string
	if len(gone) > 0 {
		note = "already lifted by the time of the removal: " + strings.Join(gone, ", ")
	}
	switch {
	case len(changes) == 0 && note != "":
		return Outcome{Status: runs.StepNoChange, Message: "the user is no longer on the Restricted users list (" + note + ")"}
	case len(changes) == 0:
		return Outcome{Status: runs.StepNoChange, Message: "the user is not on the Restricted users list"}
	case in.DryRun:
		return Outcome{Status: runs.StepPlanned, Changes: changes}
	}
	msg := "Exchange lets the user send mail again within about an hour"
	if note != "" {
		msg += "; " + note
	}
	return Outcome{Status: runs.StepSucceeded, Changes: changes, Message: msg}
}

func blockedEvidence(b exchange.BlockedSender) any {
	if len(b.Raw) > 0 {
		return b.Raw
	}
	return map[string]any{"SenderAddress": b.SenderAddress, "CreatedDatetime": b.CreatedDatetime, "Reason": b.Reason}
}

// notSecured says why the account is not secured yet, or "" when every other step of the
// run ended succeeded or no_change (planned too, in a dry run). Steps nothing waits for
// (investigate: reading the audit log secures nothing) do not count, whatever their state.
func notSecured(in Input) string {
	var why []string
	for _, name := range All {
		st, ok := in.Others[name]
		if !ok || name == UnblockSender || !name.Awaited() {
			continue
		}
		if !st.Secured(in.DryRun) {
			why = append(why, fmt.Sprintf("%s ended %s", name, st))
		}
	}
	return strings.Join(why, ", ")
}
