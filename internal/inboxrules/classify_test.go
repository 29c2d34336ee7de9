package inboxrules

import (
	"reflect"
	"testing"

	"github.com/tourniquet/tourniquet/internal/exchange"
)

var contoso = Domains{"contoso.com", "contoso.onmicrosoft.com"}

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		rule     exchange.InboxRule
		accepted Domains
		want     []string
	}{
		// Benign rules: nothing to report.
		{name: "move newsletters to Newsletters",
			rule: exchange.InboxRule{Name: "Newsletters", MoveToFolder: `jdoe:\Newsletters`, FromAddressContainsWords: []string{"newsletter@shop.example"}}},
		{name: "forward to an internal colleague",
			rule: exchange.InboxRule{Name: "To Jane", ForwardTo: []string{`"Jane Roe" [SMTP:jane.roe@contoso.com]`}}},
		{name: "forward to an internal colleague by directory entry",
			rule: exchange.InboxRule{Name: "To Jane", ForwardTo: []string{`"Jane Roe" [EX:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc-jane]`}}},
		{name: "flag from manager",
			rule: exchange.InboxRule{Name: "From my manager", Enabled: true, FromAddressContainsWords: []string{"boss@contoso.com"}}},
		{name: "subdomain of an accepted domain is internal",
			rule: exchange.InboxRule{Name: "To the EU team", RedirectTo: []string{"[SMTP:team@eu.contoso.com]"}}},
		{name: "accepted domains match regardless of case",
			rule: exchange.InboxRule{Name: "To Jane", ForwardTo: []string{`"Jane" [SMTP:Jane@CONTOSO.COM]`}}, accepted: Domains{" Contoso.Com. "}},
		{name: "wildcard accepted domain", rule: exchange.InboxRule{Name: "Sales", ForwardTo: []string{"smtp:sales@uk.fabrikam.com"}},
			accepted: Domains{"*.fabrikam.com"}},
		{name: "pronoun it is not the keyword IT",
			rule: exchange.InboxRule{Name: "Keep it", SubjectContainsWords: []string{"get it done", "It matters"}, MoveToFolder: `jdoe:\Projects`}},
		{name: "keywords are whole words only",
			rule: exchange.InboxRule{Name: "Hardware", SubjectOrBodyContainsWords: []string{"wireless", "bankruptcy law", "securityguard.example"}}},
		{name: "null lists everywhere", rule: exchange.InboxRule{Name: "Empty rule"}},
		{name: "disabled benign rule moving to a folder called Receipts",
			rule: exchange.InboxRule{Name: "Receipts", MoveToFolder: "Receipts", StopProcessingRules: true}},

		// Forwarding.
		{name: "forward to an external address",
			rule: exchange.InboxRule{Name: "Sync", ForwardTo: []string{`"Mallory" [SMTP:attacker@evil.example]`}},
			want: []string{"forwards to external address attacker@evil.example"}},
		{name: "redirect and forward as attachment, internal ones ignored, list order kept",
			rule: exchange.InboxRule{Name: "Copies",
				ForwardTo:             []string{"[SMTP:ok@contoso.com]", "a@evil.example"},
				RedirectTo:            []string{"smtp:b@evil.example", "SMTP:b@evil.example"},
				ForwardAsAttachmentTo: []string{"Carl <c@mail.evil.example>"}},
			want: []string{"forwards to external address a@evil.example", "redirects to external address b@evil.example",
				"forwards as attachment to external address c@mail.evil.example"}},
		{name: "look-alike domains are external",
			rule: exchange.InboxRule{Name: "Lookalike", ForwardTo: []string{"x@contoso.com.evil.example", "y@evilcontoso.com", "z@contoso.co"}},
			want: []string{"forwards to external address x@contoso.com.evil.example", "forwards to external address y@evilcontoso.com",
				"forwards to external address z@contoso.co"}},
		{name: "no accepted domains known: every address is external",
			rule:     exchange.InboxRule{Name: "To Jane", ForwardTo: []string{"jane@contoso.com"}},
			accepted: Domains{},
			want:     []string{"forwards to external address jane@contoso.com"}},
		{name: "unrecognised recipient is flagged, not trusted",
			rule: exchange.InboxRule{Name: "Odd", ForwardTo: []string{"Jane Roe", "[SIP:jane@contoso.com]"}},
			want: []string{`forwards to a recipient that cannot be checked: "Jane Roe"`,
				`forwards to a recipient that cannot be checked: "[SIP:jane@contoso.com]"`}},

		// Deleting, moving, marking read.
		{name: "deletes", rule: exchange.InboxRule{Name: "Clean", DeleteMessage: true}, want: []string{"deletes messages"}},
		{name: "moves to RSS Feeds with mailbox prefix",
			rule: exchange.InboxRule{Name: "Feeds", MoveToFolder: `jdoe@contoso.com:\RSS Feeds`}, want: []string{"moves messages to RSS Feeds"}},
		{name: "moves to RSS Subscriptions with leading backslash",
			rule: exchange.InboxRule{Name: "Subs", MoveToFolder: `\RSS Subscriptions`}, want: []string{"moves messages to RSS Subscriptions"}},
		{name: "moves to a bare folder name in another case",
			rule: exchange.InboxRule{Name: "History", MoveToFolder: `conversation history`}, want: []string{"moves messages to conversation history"}},
		{name: "nested path uses its last segment",
			rule: exchange.InboxRule{Name: "Nested", MoveToFolder: `jdoe:\Inbox\Archive`}, want: []string{"moves messages to Archive"}},
		{name: "junk folder spelled two ways",
			rule: exchange.InboxRule{Name: "Junk 1", MoveToFolder: `jdoe:\Junk E-mail`}, want: []string{"moves messages to Junk E-mail"}},
		{name: "junk email", rule: exchange.InboxRule{Name: "Junk 2", MoveToFolder: `jdoe:\Junk Email`}, want: []string{"moves messages to Junk Email"}},
		{name: "deleted items", rule: exchange.InboxRule{Name: "Bin", MoveToFolder: `jdoe:\Deleted Items`}, want: []string{"moves messages to Deleted Items"}},
		{name: "folder named only with punctuation",
			rule: exchange.InboxRule{Name: "Tidy", MoveToFolder: `jdoe:\..`}, want: []string{`moves messages to a folder with an odd name: ".."`}},
		{name: "marks as read and deletes",
			rule: exchange.InboxRule{Name: "Quiet", MarkAsRead: true, DeleteMessage: true},
			want: []string{"deletes messages", "marks messages as read and deletes them"}},
		{name: "marks as read and moves, even to an ordinary folder",
			rule: exchange.InboxRule{Name: "Shop", MarkAsRead: true, MoveToFolder: `jdoe:\Newsletters`},
			want: []string{"marks messages as read and moves them to Newsletters"}},
		{name: "marks as read alone is fine", rule: exchange.InboxRule{Name: "Read", MarkAsRead: true}},

		// Words.
		{name: "payment fraud words in subject and body, in order of appearance",
			rule: exchange.InboxRule{Name: "Finance", SubjectContainsWords: []string{"Invoice #4411", "password reset"}, BodyContainsWords: []string{"wire transfer", "INVOICE"}},
			want: []string{"matches payment-fraud or cover-up words: invoice, password, wire, transfer"}},
		{name: "IT in capitals counts",
			rule: exchange.InboxRule{Name: "Support", SubjectOrBodyContainsWords: []string{"IT department"}},
			want: []string{"matches payment-fraud or cover-up words: IT"}},
		{name: "plurals and phrases",
			rule: exchange.InboxRule{Name: "Money", SubjectContainsWords: []string{"invoices", "Direct  Deposit change", "gift-cards", "viruses"}},
			want: []string{"matches payment-fraud or cover-up words: invoice, direct deposit, gift card, virus"}},
		{name: "W-2 and helpdesk from sender words",
			rule: exchange.InboxRule{Name: "HR mail", FromAddressContainsWords: []string{"w-2@payroll.example", "helpdesk"}},
			want: []string{"matches payment-fraud or cover-up words: W-2, payroll, helpdesk"}},
		{name: "security notices hidden in the junk folder",
			rule: exchange.InboxRule{Name: "Alerts", SubjectOrBodyContainsWords: []string{"hacked", "phish", "spam", "security"}, MoveToFolder: `jdoe:\Junk Email`},
			want: []string{"moves messages to Junk Email", "matches payment-fraud or cover-up words: hacked, phish, spam, security"}},

		// Text messages, hidden, name.
		{name: "text-message notifications",
			rule: exchange.InboxRule{Name: "SMS", SendTextMessageNotificationTo: []string{"+15555550100"}},
			want: []string{"sends text-message notifications to +15555550100"}},
		{name: "hidden", rule: exchange.InboxRule{Name: "Normal name", Hidden: true}, want: []string{"is hidden"}},
		{name: "name of dots", rule: exchange.InboxRule{Name: "..."}, want: []string{`has a name made of punctuation or one or two characters: "..."`}},
		{name: "two-character name", rule: exchange.InboxRule{Name: "ab"}, want: []string{`has a name made of punctuation or one or two characters: "ab"`}},
		{name: "empty name", rule: exchange.InboxRule{Name: ""}, want: []string{`has a name made of punctuation or one or two characters: ""`}},
		{name: "invisible characters around one letter",
			rule: exchange.InboxRule{Name: "\u200bx\u200b "}, want: []string{`has a name made of punctuation or one or two characters: "\u200bx\u200b "`}},
		{name: "three letters is a name", rule: exchange.InboxRule{Name: "abc"}},

		// Everything at once, in the documented order.
		{name: "classic attacker rule",
			rule: exchange.InboxRule{Name: ".", Hidden: true, MarkAsRead: true, DeleteMessage: true, MoveToFolder: `jdoe:\RSS Subscriptions`,
				ForwardTo: []string{`"x" [SMTP:exfil@evil.example]`}, SubjectOrBodyContainsWords: []string{"hacked", "password"},
				SendTextMessageNotificationTo: []string{"+15555550100", "+15555550101"}},
			want: []string{
				"forwards to external address exfil@evil.example",
				"deletes messages",
				"moves messages to RSS Subscriptions",
				"marks messages as read and deletes them",
				"matches payment-fraud or cover-up words: hacked, password",
				"sends text-message notifications to +15555550100, +15555550101",
				"is hidden",
				`has a name made of punctuation or one or two characters: "."`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accepted := tt.accepted
			if accepted == nil {
				accepted = contoso
			}
			got := Classify(tt.rule, accepted)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Classify =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestClassifyQuotesControlCharacters(t *testing.T) {
	got := Classify(exchange.InboxRule{Name: "Feed", MoveToFolder: "jdoe:\\RSS Feeds", SendTextMessageNotificationTo: []string{"+1\n555"}}, contoso)
	want := []string{"moves messages to RSS Feeds", `sends text-message notifications to "+1\n555"`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Classify = %q, want %q", got, want)
	}
}

func TestIsSystem(t *testing.T) {
	external := []string{`"x" [SMTP:x@evil.example]`}
	tests := []struct {
		name string
		rule exchange.InboxRule
		want bool
	}{
		{name: "junk e-mail rule", rule: exchange.InboxRule{Name: "Junk E-Mail Rule", Hidden: true}, want: true},
		{name: "OOF rule", rule: exchange.InboxRule{Name: "Microsoft.Exchange.OOF.KnownSendersOnly.Rule", Hidden: true}, want: true},
		{name: "OOF rule forwarding (automatic-reply rules may)", rule: exchange.InboxRule{Name: "Microsoft.Exchange.OOF.Rule1", ForwardTo: []string{"jane@contoso.com"}}, want: true},
		{name: "delegate rule", rule: exchange.InboxRule{Name: "Delegate Rule -12345", ForwardTo: []string{"[EX:/o=x/cn=jane]"}, DeleteMessage: true}, want: true},
		{name: "user rule", rule: exchange.InboxRule{Name: "Newsletters"}},
		{name: "lower-case impostor", rule: exchange.InboxRule{Name: "junk e-mail rule"}},
		{name: "trailing space impostor", rule: exchange.InboxRule{Name: "Junk E-Mail Rule "}},
		{name: "delegate rule without number", rule: exchange.InboxRule{Name: "Delegate Rule -"}},
		{name: "delegate rule with words", rule: exchange.InboxRule{Name: "Delegate Rule -1 forward"}},
		{name: "OOF prefix only in the middle", rule: exchange.InboxRule{Name: "x Microsoft.Exchange.OOF.Rule"}},
		{name: "junk rule name that forwards is no system rule", rule: exchange.InboxRule{Name: "Junk E-Mail Rule", ForwardTo: external}},
		{name: "delegate rule name that redirects", rule: exchange.InboxRule{Name: "Delegate Rule -7", RedirectTo: external}},
		{name: "OOF rule name that forwards as attachment", rule: exchange.InboxRule{Name: "Microsoft.Exchange.OOF.X", ForwardAsAttachmentTo: external}},
		{name: "system name that texts", rule: exchange.InboxRule{Name: "Junk E-Mail Rule", SendTextMessageNotificationTo: []string{"+1555"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsSystem(tt.rule); got != tt.want {
				t.Errorf("IsSystem(%q) = %v, want %v", tt.rule.Name, got, tt.want)
			}
		})
	}
}
