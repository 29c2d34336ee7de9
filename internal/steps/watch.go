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
	// SignIns are the user's sign-ins since the time asked: interactive and, where Graph's
	// beta endpoint answers, non-interactive (a refresh token or session cookie replayed
	// shows only there).
	SignIns    []graph.SignIn
	SignInsErr error
	// NonInteractive: SignIns holds the non-interactive sign-ins too.
	NonInteractive bool
	// NonInteractiveGap says which non-interactive sign-ins were not read and why (beta
	// refused, so v1.0's interactive ones only; the page cap cut the listing), "" when all
	// were. NonInteractiveErr is the error of a non-interactive listing that stopped short
	// while the interactive one answered (nil when it did not): one that may pass is read
	// again from the same time.
	NonInteractiveGap string
	NonInteractiveErr error

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
			o.readSignIns(ctx, r.AuditLogs, target.ID, since)
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

// WatchNonInteractivePages caps the non-interactive sign-in pages (1,000 sign-ins each,
// newest first) one check of the eviction watch reads: it reads the minutes since the last
// check, where a user's clients refresh their tokens a few times an hour.
const WatchNonInteractivePages = 3

// WatchSignInsReader lists a user's interactive and non-interactive sign-ins with a cap on
// the non-interactive pages (graph.Client.UserSignInsUpTo); an AuditLogs without it is read
// through SignIns, interactive only.
type WatchSignInsReader interface {
	UserSignInsUpTo(ctx context.Context, userID string, since time.Time, nonInteractivePages int) (graph.SignInsRead, error)
}

var _ WatchSignInsReader = (*graph.Client)(nil)

// readSignIns reads the user's sign-ins since the given time: the interactive and
// non-interactive ones of Graph's beta endpoint, or v1.0's interactive ones when beta
// refuses (NonInteractiveGap says so).
func (o *Observation) readSignIns(ctx context.Context, logs AuditLogs, userID string, since time.Time) {
	reader, ok := logs.(WatchSignInsReader)
	if !ok {
		o.SignIns, o.SignInsErr = logs.SignIns(ctx, userID, since)
		o.NonInteractiveGap = "the audit log client reads Graph v1.0 only, which lists interactive sign-ins"
		return
	}
	got, err := reader.UserSignInsUpTo(ctx, userID, since, WatchNonInteractivePages)
	o.SignIns, o.SignInsErr = got.SignIns, err
	if err != nil {
		return
	}
	o.NonInteractive, o.NonInteractiveErr = got.NonInteractive, got.NonInteractiveErr
	switch {
	case got.NonInteractiveErr != nil, got.NonInteractive && got.NonInteractiveCut != "":
		o.NonInteractiveGap = got.NonInteractiveCut
	case !got.NonInteractive:
		why := "Graph's beta endpoint, which lists them, was not used"
		if got.BetaError != nil {
			why = "Graph's beta endpoint, which lists them, answered: " + got.BetaError.Error()
		}
		o.NonInteractiveGap = "only interactive sign-ins (Graph v1.0) were read: " + why
	}
}

// errNoSource: the runner was built without the sign-in source.
var errNoSource = &graph.Error{Op: "SignIns", Status: 0, Message: "no sign-in source configured"}

// SuccessfulFrom lists the successful sign-ins, interactive or not, whose address is one
// of ips or whose session is one of sessions (keys lower case): an attacker's address, or
// a session of the attacker's continued with a token replayed from anywhere.
func SuccessfulFrom(signIns []graph.SignIn, ips, sessions map[string]bool) []graph.SignIn {
	var out []graph.SignIn
	for _, s := range signIns {
		if s.ErrorCode != 0 {
			continue
		}
		if ips[strings.ToLower(strings.TrimSpace(s.IP))] || s.SessionID != "" && sessions[strings.ToLower(strings.TrimSpace(s.SessionID))] {
			out = append(out, s)
		}
	}
	return out
}
