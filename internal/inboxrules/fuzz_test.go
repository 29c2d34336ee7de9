package inboxrules

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/exchange"
)

// FuzzClassify feeds arbitrary rule text through the classifier and checks the
// properties the remediation step relies on: no panic, the same answer every time, no
// empty or repeated reason, every reason on one line, and the checks that must hold
// whatever the text (hidden rules, external forwarding, deleting).
func FuzzClassify(f *testing.F) {
	f.Add(".", `"Mallory" [SMTP:attacker@evil.example]`, `jdoe:\RSS Feeds`, "invoice", "IT", "contoso.com", true, true, true)
	f.Add("Newsletters", `"Jane" [SMTP:jane@contoso.com]`, `jdoe:\Newsletters`, "news", "it", "contoso.com", false, false, false)
	f.Add("Delegate Rule -1", `"Jane" [EX:/o=x/cn=jane]`, "", "", "", "*.contoso.com", false, true, true)
	f.Add("", "smtp:a@b", `\`, "W-2 wire\x00", "\u200b", "", true, false, true)
	f.Add("Junk E-Mail Rule", "[SMTP:]", "::\\\\", "[[[", "@@@", ".", false, true, false)

	f.Fuzz(func(t *testing.T, name, recipient, folder, words, fromWords, domain string, hidden, markRead, del bool) {
		rule := exchange.InboxRule{
			Name: name, MoveToFolder: folder, Hidden: hidden, MarkAsRead: markRead, DeleteMessage: del,
			ForwardTo: []string{recipient}, RedirectTo: []string{recipient, folder},
			SubjectContainsWords: []string{words}, FromAddressContainsWords: []string{fromWords, recipient},
			SendTextMessageNotificationTo: strings.Fields(words),
		}
		accepted := Domains{domain}
		first := Classify(rule, accepted)
		if again := Classify(rule, accepted); !reflect.DeepEqual(first, again) {
			t.Fatalf("not deterministic: %q then %q", first, again)
		}
		for i, reason := range first {
			if reason == "" || strings.ContainsAny(reason, "\n\r") {
				t.Fatalf("reason %d is empty or multi-line: %q", i, reason)
			}
			if slices.Contains(first[:i], reason) {
				t.Fatalf("reason %q repeated in %q", reason, first)
			}
		}
		if hidden && !slices.Contains(first, "is hidden") {
			t.Fatalf("hidden rule without the reason: %q", first)
		}
		if del && !slices.Contains(first, "deletes messages") {
			t.Fatalf("deleting rule without the reason: %q", first)
		}
		if addr := ExtractAddress(recipient); addr != "" {
			if strings.Count(addr, "@") != 1 || strings.ContainsAny(addr, " \t\r\n\"<>[]") {
				t.Fatalf("ExtractAddress(%q) = %q is no address", recipient, addr)
			}
			if !accepted.Internal(addr) && !slices.Contains(first, "forwards to external address "+addr) {
				t.Fatalf("external %q not reported: %q", addr, first)
			}
		}
		if IsSystem(rule) {
			t.Fatalf("a rule that redirects (%q) must never count as a system rule", rule.RedirectTo)
		}
	})
}
