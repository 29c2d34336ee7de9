package ident

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzIdentifiers checks the identifier validators on arbitrary text: what they accept
// can never change the meaning of a URL path or an OData $filter (no quote, slash,
// question mark, hash, percent, space or control character), stays within Entra's
// lengths, and a GUID is never mistaken for a UPN.
func FuzzIdentifiers(f *testing.F) {
	for _, seed := range []string{
		"adele.vance@contoso.example", "11111111-1111-4111-8111-111111111111",
		"x' or 1 eq 1", "a@b", "o'brien@contoso.example", ".a@b.example", "a..b@c.example",
		"a@b.example/../../users", "a@b.example?$filter=x", "A@B.EXAMPLE", "\u00e9@b.example",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 47) + ".c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		upn, id := ValidUPN(s), ValidID(s)
		if upn && id {
			t.Fatalf("%q is both a UPN and an object id", s)
		}
		if !upn && !id {
			return
		}
		if strings.ContainsAny(s, "/?%\" \\&=+,;:()[]<>") {
			t.Fatalf("accepted %q, which holds a character that changes a URL or a filter", s)
		}
		for _, r := range s {
			if r > unicode.MaxASCII || unicode.IsControl(r) || unicode.IsSpace(r) {
				t.Fatalf("accepted %q with rune %U", s, r)
			}
		}
		if upn && (len(s) > 113 || strings.Count(s, "@") != 1) {
			t.Fatalf("accepted UPN %q: length %d or not one @", s, len(s))
		}
		if id && len(s) != 36 {
			t.Fatalf("accepted id %q of length %d", s, len(s))
		}
		if upn && strings.Contains(s, "'") {
			// Entra allows ' in the local part; it must be doubled before it reaches a
			// $filter, and nothing may follow the quote that ends the literal.
			local, _, _ := strings.Cut(s, "@")
			if !strings.Contains(local, "'") {
				t.Fatalf("quote outside the local part accepted: %q", s)
			}
		}
	})
}
