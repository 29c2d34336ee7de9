package inboxrules

import "testing"

func TestExtractAddress(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"display name and SMTP", `"Mallory Evil" [SMTP:mallory@evil.example]`, "mallory@evil.example"},
		{"lower-case smtp prefix", "smtp:a@b", "a@b"},
		{"upper-case SMTP without name", "[SMTP:A@B.C]", "A@B.C"},
		{"plain address", "a@b.c", "a@b.c"},
		{"padded plain address", "  a@b.c  ", "a@b.c"},
		{"angle brackets", "Carl <carl@evil.example>", "carl@evil.example"},
		{"mailto", "mailto:x@y.z", "x@y.z"},
		{"name holding brackets", `"Odd [name]" [SMTP:o@evil.example]`, "o@evil.example"},
		{"EX directory entry is internal", `"Jane" [EX:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=jane]`, ""},
		{"bare EX", "EX:/o=x/cn=y", ""},
		{"X500", "[X500:/o=x/cn=y]", ""},
		{"display name only", "Jane Roe", ""},
		{"other address type", "[SIP:jane@contoso.com]", ""},
		{"two at signs", "a@b@c", ""},
		{"spaces inside", "[SMTP:a b@c.d]", ""},
		{"empty", "", ""},
		{"empty SMTP", "[SMTP:]", ""},
		{"no domain", "smtp:a@", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExtractAddress(tt.in); got != tt.want {
				t.Errorf("ExtractAddress(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDomainsInternal(t *testing.T) {
	d := Domains{"contoso.com", "FABRIKAM.com.", "*.wingtip.example", "", "  "}
	tests := []struct {
		addr string
		want bool
	}{
		{"a@contoso.com", true},
		{"a@CONTOSO.COM", true},
		{"a@mail.eu.contoso.com", true},
		{"a@contoso.com.", true},
		{"a@fabrikam.com", true},
		{"a@uk.wingtip.example", true},
		{"a@wingtip.example", true},
		{"a@evilcontoso.com", false},
		{"a@contoso.com.evil.example", false},
		{"a@contoso.co", false},
		{"a@", false},
		{"no-at-sign", false},
		{"a@com", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := d.Internal(tt.addr); got != tt.want {
				t.Errorf("Internal(%q) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	if (Domains{}).Internal("a@contoso.com") || Domains(nil).Internal("a@contoso.com") {
		t.Error("no accepted domains must mean nothing is internal")
	}
}

func TestFolderName(t *testing.T) {
	tests := []struct{ in, want string }{
		{`mailbox:\RSS Feeds`, "RSS Feeds"},
		{`jdoe@contoso.com:\Inbox\Sub\Deep`, "Deep"},
		{`\RSS Feeds`, "RSS Feeds"},
		{`RSS Feeds`, "RSS Feeds"},
		{`jdoe:RSS Feeds`, "RSS Feeds"},
		{`  jdoe:\ Archive  `, "Archive"},
		{``, ""},
		{`jdoe:\`, ""},
	}
	for _, tt := range tests {
		if got := folderName(tt.in); got != tt.want {
			t.Errorf("folderName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRarelyReadFolders(t *testing.T) {
	for folder, want := range map[string]bool{
		"Deleted Items": true, "deleted  items": true, "RSS Feeds": true, "RSS Subscriptions": true, "Conversation History": true,
		"Archive": true, "Junk Email": true, "Junk E-Mail": true, "Sync Issues": true, "Conflicts": true, "Outbox": true,
		"Inbox": false, "Newsletters": false, "Sent Items": false, "Drafts": false, "Archive 2024": false, "RSS": false,
	} {
		if got := isRarelyRead(folder); got != want {
			t.Errorf("isRarelyRead(%q) = %v, want %v", folder, got, want)
		}
	}
}

func TestIsOddName(t *testing.T) {
	for name, want := range map[string]bool{
		"": true, " ": true, ".": true, "..": true, "...": true, "-_-": true, "a": true, "ab": true, " a b ": true,
		"\u200b\u200b\u200b": true, "!!!???": true, "★★★": true,
		"abc": false, "Newsletters": false, "a.b": false, "1 2 3": false, "x!!": false,
	} {
		if got := isOddName(name); got != want {
			t.Errorf("isOddName(%q) = %v, want %v", name, got, want)
		}
	}
}
