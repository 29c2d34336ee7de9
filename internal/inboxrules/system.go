package inboxrules

import (
	"regexp"
	"strings"

	"github.com/tourniquet/tourniquet/internal/exchange"
)

type systemKind int

const (
	notSystem systemKind = iota
	junkRule
	oofRule
	delegateRule
)

var delegateRuleName = regexp.MustCompile(`^Delegate Rule -\d+$`)

// systemKindOf matches the exact names Exchange and Outlook give their own rules. The
// match is case-sensitive on purpose: "junk e-mail rule" is a user's rule.
func systemKindOf(name string) systemKind {
	switch {
	case name == "Junk E-Mail Rule":
		return junkRule
	case strings.HasPrefix(name, "Microsoft.Exchange.OOF."):
		return oofRule
	case delegateRuleName.MatchString(name):
		return delegateRule
	default:
		return notSystem
	}
}

// IsSystem reports whether r is one of the rules Exchange and Outlook manage themselves
// ("Junk E-Mail Rule", "Microsoft.Exchange.OOF.*", "Delegate Rule -<n>"); those are never
// touched.
//
// A system name alone does not shield a rule that sends mail out of the mailbox, since
// an attacker can name a rule anything: system rules never redirect, forward as an
// attachment or send text messages, and only delegate rules (meeting requests to
// delegates) and out-of-office rules (the user's automatic-reply rules) forward.
func IsSystem(r exchange.InboxRule) bool {
	kind := systemKindOf(r.Name)
	if kind == notSystem {
		return false
	}
	if len(r.RedirectTo) > 0 || len(r.ForwardAsAttachmentTo) > 0 || len(r.SendTextMessageNotificationTo) > 0 {
		return false
	}
	return kind != junkRule || len(r.ForwardTo) == 0
}
