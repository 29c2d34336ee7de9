package steps

import (
	"context"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/inboxrules"
)

// Observation is what one check of the eviction watch (contract section 1.3) read of an
// account, read-only: its sign-ins since a time, its mailbox forwarding and the inbox rules
// the classifier flags. Each source carries its own error: one that cannot be read does not
// hide the others.
type Observation struct {
	SignIns    []graph.SignIn
	SignInsErr error

	// Forwarding is the mailbox's forwarding ("" when none): the SMTP address, else the
	// recipient.
	Forwarding    string
	NoMailbox     bool // the user has no mailbox: nothing to forward or rule
	ForwardingErr error

	// Flagged are the enabled inbox rules the classifier flags (section 4), by identity,
	// with their reasons.
	Flagged  map[string][]string
	RulesErr error
}

// Observe reads what the eviction watch looks at, concurrently, each source bounded by ctx.
func (r *Runner) Observe(ctx context.Context, target Target, since time.Time) Observation {
	var (
		o        Observation
		mb       exchange.Mailbox
		rules    []exchange.InboxRule
		accepted inboxrules.Domains
	)
	errs := callEach(4, func(i int) (err error) {
		switch i {
		case 0:
			if r.AuditLogs == nil {
				o.SignInsErr = errNoSource
				return nil
			}
			o.SignIns, o.SignInsErr = r.AuditLogs.SignIns(ctx, target.ID, since)
			return nil
		case 1:
			mb, err = r.Mailboxes.GetMailbox(ctx, target.UPN)
		case 2:
			rules, err = r.Mailboxes.InboxRules(ctx, target.UPN)
		default:
			accepted, err = r.acceptedDomains(ctx, target)
		}
		return err
	})
	switch {
	case exchange.IsNotFound(errs[1]):
		o.NoMailbox = true
		return o
	case errs[1] != nil:
		o.ForwardingErr = errs[1]
	default:
		o.Forwarding = inboxrules.ExtractAddress(mb.ForwardingSmtpAddress)
		if o.Forwarding == "" {
			o.Forwarding = mb.ForwardingAddress
		}
	}
	if err := firstError(errs[2:]); err != nil {
		o.RulesErr = err
		return o
	}
	o.Flagged = map[string][]string{}
	for _, rule := range rules {
		if inboxrules.IsSystem(rule) || !rule.Enabled {
			continue
		}
		if reasons := inboxrules.Classify(rule, accepted); len(reasons) > 0 {
			o.Flagged[ruleTarget(rule)] = reasons
		}
	}
	return o
}

// errNoSource: the runner was built without the sign-in source.
var errNoSource = &graph.Error{Op: "SignIns", Status: 0, Message: "no sign-in source configured"}

// SuccessfulFrom lists the successful sign-ins whose address is one of ips.
func SuccessfulFrom(signIns []graph.SignIn, ips map[string]bool) []graph.SignIn {
	var out []graph.SignIn
	for _, s := range signIns {
		if s.ErrorCode == 0 && ips[strings.ToLower(strings.TrimSpace(s.IP))] {
			out = append(out, s)
		}
	}
	return out
}
