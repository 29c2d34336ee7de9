package steps

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/inboxrules"
	"github.com/tourniquet/tourniquet/internal/runs"
)

func (r *Runner) removeForwarding(ctx context.Context, in Input) Outcome {
	mb, err := r.Mailboxes.GetMailbox(ctx, in.Target.UPN)
	if err != nil {
		return fail("remove-forwarding: read mailbox", err, nil)
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
	if in.DryRun {
		return Outcome{Status: runs.StepPlanned, Changes: []runs.Change{change}}
	}
	if err := r.Mailboxes.ClearForwarding(ctx, in.Target.UPN); err != nil {
		return fail("remove-forwarding: clear forwarding", err, nil)
	}
	return Outcome{Status: runs.StepSucceeded, Changes: []runs.Change{change}}
}

func (r *Runner) removeInboxRules(ctx context.Context, in Input) Outcome {
	var (
		accepted inboxrules.Domains
		rules    []exchange.InboxRule
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { accepted, err = r.acceptedDomains(gctx, in.Target); return err })
	g.Go(func() (err error) { rules, err = r.Mailboxes.InboxRules(gctx, in.Target.UPN); return err })
	if err := g.Wait(); err != nil {
		return fail("remove-inbox-rules: read rules and accepted domains", err, nil)
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
	errs := make([]error, len(plan))
	if !in.DryRun {
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
		firstErr error
		failed   exchange.InboxRule
	)
	for i, p := range plan {
		switch err := errs[i]; {
		case exchange.IsNotFound(err):
			// removed meanwhile (another delivery, or the user): nothing left to do
		case err != nil:
			if firstErr == nil {
				firstErr, failed = err, p.rule
			}
		default:
			changes = append(changes, p.change)
		}
	}
	if firstErr != nil {
		return fail(fmt.Sprintf("remove-inbox-rules: %s rule %q", strings.TrimSuffix(action, "d"), failed.Name), firstErr, changes)
	}
	switch {
	case len(changes) == 0:
		return Outcome{Status: runs.StepNoChange, Message: fmt.Sprintf("%d inbox rules checked (hidden ones included); none to remove", len(rules))}
	case in.DryRun:
		return Outcome{Status: runs.StepPlanned, Changes: changes}
	}
	return Outcome{Status: runs.StepSucceeded, Changes: changes}
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
	errs := make([]error, len(blocked))
	if !in.DryRun {
		errs = callEach(len(blocked), func(i int) error {
			return r.Mailboxes.RemoveBlockedSender(ctx, blocked[i].SenderAddress, "Tourniquet run "+in.RunID+": account secured")
		})
	}
	var changes []runs.Change
	var firstErr error
	for i, b := range blocked {
		if err := errs[i]; err != nil && !exchange.IsNotFound(err) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		changes = append(changes, runs.Change{
			Action: "sender_unblocked", Target: b.SenderAddress, Before: blockedEvidence(b),
			Reasons: []string{"the account is secured (every other step succeeded or had nothing to change), so it may send mail again"},
		})
	}
	if firstErr != nil {
		return fail("unblock-sender: remove from restricted users", firstErr, changes)
	}
	switch {
	case len(changes) == 0:
		return Outcome{Status: runs.StepNoChange, Message: "the user is not on the Restricted users list"}
	case in.DryRun:
		return Outcome{Status: runs.StepPlanned, Changes: changes}
	}
	return Outcome{Status: runs.StepSucceeded, Changes: changes, Message: "Exchange lets the user send mail again within about an hour"}
}

func blockedEvidence(b exchange.BlockedSender) any {
	if len(b.Raw) > 0 {
		return b.Raw
	}
	return map[string]any{"SenderAddress": b.SenderAddress, "CreatedDatetime": b.CreatedDatetime, "Reason": b.Reason}
}

// notSecured says why the account is not secured yet, or "" when every other step of the
// run ended succeeded or no_change (planned too, in a dry run).
func notSecured(in Input) string {
	var why []string
	for _, name := range All {
		st, ok := in.Others[name]
		if !ok || name == UnblockSender {
			continue
		}
		if !st.Secured(in.DryRun) {
			why = append(why, fmt.Sprintf("%s ended %s", name, st))
		}
	}
	return strings.Join(why, ", ")
}
