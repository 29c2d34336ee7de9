// Package inboxrules decides which inbox rules look like an attacker's work (CONTRACT.md
// section 4). It is pure: the same rule and domains always give the same reasons, in the
// same order, so run records and tests are stable.
package inboxrules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/tourniquet/tourniquet/internal/exchange"
)

// Classify returns every reason r is suspicious, in words a SOC analyst reads; empty
// means not suspicious. Callers skip system rules (IsSystem) before acting; Classify
// itself judges any rule it is given.
//
// Reasons come in a fixed order: forwarding, redirecting, forwarding as attachment (one
// reason per address, in list order), deleting, moving to a rarely read folder, marking
// as read, keywords, text messages, hidden, name.
func Classify(r exchange.InboxRule, accepted Domains) []string {
	var reasons []string
	add := func(format string, args ...any) {
		reason := fmt.Sprintf(format, args...)
		if !slices.Contains(reasons, reason) {
			reasons = append(reasons, reason)
		}
	}

	for _, out := range []struct {
		verb       string
		recipients []string
	}{
		{"forwards", r.ForwardTo},
		{"redirects", r.RedirectTo},
		{"forwards as attachment", r.ForwardAsAttachmentTo},
	} {
		for _, recipient := range out.recipients {
			addr, kind := parseRecipient(recipient)
			switch {
			case kind == smtpRecipient && !accepted.Internal(addr):
				add("%s to external address %s", out.verb, addr)
			case kind == unrecognised:
				// Exchange writes every recipient as SMTP or EX; anything else cannot be
				// shown to stay inside the tenant, so it is flagged rather than trusted.
				add("%s to a recipient that cannot be checked: %q", out.verb, recipient)
			}
		}
	}

	if r.DeleteMessage {
		add("deletes messages")
	}
	folder := folderName(r.MoveToFolder)
	switch {
	case folder == "":
	case isRarelyRead(folder):
		add("moves messages to %s", printable(folder))
	case isOddName(folder):
		add("moves messages to a folder with an odd name: %q", folder)
	}
	if r.MarkAsRead {
		switch {
		case r.DeleteMessage:
			add("marks messages as read and deletes them")
		case folder != "":
			add("marks messages as read and moves them to %s", printable(folder))
		}
	}

	if words := matchedKeywords(r.SubjectContainsWords, r.BodyContainsWords, r.SubjectOrBodyContainsWords, r.FromAddressContainsWords); len(words) > 0 {
		add("matches payment-fraud or cover-up words: %s", strings.Join(words, ", "))
	}
	if len(r.SendTextMessageNotificationTo) > 0 {
		targets := make([]string, len(r.SendTextMessageNotificationTo))
		for i, t := range r.SendTextMessageNotificationTo {
			targets[i] = printable(t)
		}
		add("sends text-message notifications to %s", strings.Join(targets, ", "))
	}
	if r.Hidden {
		add("is hidden")
	}
	if isOddName(r.Name) {
		add("has a name made of punctuation or one or two characters: %q", r.Name)
	}
	return reasons
}

// printable quotes text that holds control or invisible formatting characters, so a
// reason stays one honest, readable line whatever an attacker put into the rule.
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		return strconv.Quote(s)
	}
	return s
}
