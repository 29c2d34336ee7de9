package inboxrules

import (
	"strings"
	"unicode"
)

// Domains is the tenant's accepted domains. An address is internal when its domain equals
// one of them or is a subdomain of one, case-insensitively.
type Domains []string

// Internal reports whether address belongs to the tenant.
func (d Domains) Internal(address string) bool {
	_, domain, ok := strings.Cut(address, "@")
	if !ok {
		return false
	}
	domain = normalizeDomain(domain)
	if domain == "" {
		return false
	}
	for _, accepted := range d {
		accepted = normalizeDomain(strings.TrimPrefix(strings.TrimSpace(accepted), "*."))
		if accepted == "" {
			continue
		}
		if domain == accepted || strings.HasSuffix(domain, "."+accepted) {
			return true
		}
	}
	return false
}

func normalizeDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

type recipientKind int

const (
	unrecognised recipientKind = iota
	smtpRecipient
	exchangeRecipient // an EX:/X500: directory entry: a recipient inside the organisation
)

// ExtractAddress returns the SMTP address in an inbox rule recipient:
// `"Name" [SMTP:a@b.c]`, `smtp:a@b.c`, `Name <a@b.c>` and plain `a@b.c` all give a@b.c.
// Directory entries (`"Name" [EX:/o=...]`) are internal and give "", as does anything
// that holds no address.
func ExtractAddress(recipient string) string {
	addr, kind := parseRecipient(recipient)
	if kind != smtpRecipient {
		return ""
	}
	return addr
}

func parseRecipient(recipient string) (string, recipientKind) {
	s := strings.TrimSpace(recipient)
	if inner, ok := enclosed(s, '[', ']'); ok {
		s = inner
	} else if inner, ok := enclosed(s, '<', '>'); ok {
		s = inner
	}
	if prefix, rest, ok := strings.Cut(s, ":"); ok && !strings.Contains(prefix, "@") {
		switch strings.ToUpper(strings.TrimSpace(prefix)) {
		case "SMTP", "MAILTO":
			s = rest
		case "EX", "X500":
			return "", exchangeRecipient
		default:
			return "", unrecognised
		}
	}
	s = strings.TrimSpace(s)
	if !looksLikeAddress(s) {
		return "", unrecognised
	}
	return s, smtpRecipient
}

// enclosed returns the text inside the last open...close pair that ends s.
func enclosed(s string, open, close byte) (string, bool) {
	if !strings.HasSuffix(s, string(close)) {
		return "", false
	}
	i := strings.LastIndexByte(s, open)
	if i < 0 {
		return "", false
	}
	return s[i+1 : len(s)-1], true
}

func looksLikeAddress(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || strings.ContainsRune(`"<>[]()\,;`, r)
	})
}
