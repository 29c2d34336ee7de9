package graph

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"62e90394-69f5-4237-9190-012177145e10", true},
		{"62E90394-69F5-4237-9190-012177145E10", true},
		{"", false},
		{"62e90394-69f5-4237-9190-012177145e1", false},
		{"62e90394-69f5-4237-9190-012177145e100", false},
		{"62e90394x69f5-4237-9190-012177145e10", false},
		{"{62e90394-69f5-4237-9190-012177145e10}", false},
		{"62e90394-69f5-4237-9190-012177145e10' or '1' eq '1", false},
		{"62e90394-69f5-4237-9190-012177145e10\n", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.in); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidUPN(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"plain", "alice@contoso.com", true},
		{"subdomain", "alice.smith@mail.contoso.co.uk", true},
		{"allowed symbols", "o'brien_x-y!#^~@contoso.onmicrosoft.com", true},
		{"guest", "bob_fabrikam.com#EXT#@contoso.onmicrosoft.com", true},
		{"digits domain label", "a@1password.com", true},
		{"empty", "", false},
		{"no at", "alice", false},
		{"two ats", "a@b@contoso.com", false},
		{"empty local", "@contoso.com", false},
		{"single-label domain", "alice@contoso", false},
		{"leading dot", ".alice@contoso.com", false},
		{"trailing dot", "alice.@contoso.com", false},
		{"double dot", "al..ice@contoso.com", false},
		{"space", "al ice@contoso.com", false},
		{"quote and filter", "a'@contoso.com or 1 eq 1", false},
		{"slash", "alice/x@contoso.com", false},
		{"path in domain", "alice@contoso.com/../groups", false},
		{"query", "alice@contoso.com?x=1", false},
		{"percent", "al%40ice@contoso.com", false},
		{"dollar start", "$alice@contoso.com", false},
		{"domain label dash edge", "alice@-contoso.com", false},
		{"empty domain label", "alice@contoso..com", false},
		{"unicode", "alïce@contoso.com", false},
		{"local too long", strings.Repeat("a", 65) + "@contoso.com", false},
		{"total too long", strings.Repeat("a", 60) + "@" + strings.Repeat("b", 50) + ".com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidUPN(tt.in); got != tt.want {
				t.Errorf("ValidUPN(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidEntityKeyAndScope(t *testing.T) {
	keys := map[string]bool{
		"lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr48lds9SGHI-1": true,
		"a1": true, "": false, "..": false, "a/b": false, "a b": false, "a?b": false,
		strings.Repeat("k", 257): false,
	}
	for in, want := range keys {
		if got := validEntityKey(in); got != want {
			t.Errorf("validEntityKey(%q) = %v, want %v", in, got, want)
		}
	}
	scopes := map[string]bool{
		"/": true, "/administrativeUnits/5d107bba-d8e2-4e7b-a2d8-3b2c8e9e0a11": true,
		"/5d107bba-d8e2-4e7b-a2d8-3b2c8e9e0a11": true,
		"":                                      false, "administrativeUnits/x": false, "//": false, "/a/../b": false, "/a b": false, "/a/": false,
	}
	for in, want := range scopes {
		if got := validScope(in); got != want {
			t.Errorf("validScope(%q) = %v, want %v", in, got, want)
		}
	}
}
