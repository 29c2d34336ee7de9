package exchange

import (
	"errors"
	"testing"
)

func TestValidateAddress(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"jdoe@contoso.com", true},
		{"j.doe+tag@mail.contoso.co.uk", true},
		{"o'neil@contoso.com", true}, // Entra allows apostrophes in UPNs
		{"first_last-1@contoso.onmicrosoft.com", true},
		{"x@a-b.example", true},
		{"", false},
		{"jdoe", false},
		{"@contoso.com", false},
		{"jdoe@", false},
		{"jdoe@contoso", false},
		{"jdoe@contoso..com", false},
		{"jdoe@-contoso.com", false},
		{"jdoe@contoso-.com", false},
		{".jdoe@contoso.com", false},
		{"jdoe.@contoso.com", false},
		{"j..doe@contoso.com", false},
		{"a@b@contoso.com", false},
		{`"jdoe"@contoso.com`, false},
		{`jd\oe@contoso.com`, false},
		{"jd oe@contoso.com", false},
		{"jdoe@contoso.com\r\nX-Evil: 1", false},
		{"jdoe\x00@contoso.com", false},
		{"jdöe@contoso.com", false},
		{"jdoe@contöso.com", false},
		{"jdoe@contoso.com.", false},
		{string(make([]byte, 65)) + "@contoso.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := validateAddress(tt.addr)
			if (err == nil) != tt.ok {
				t.Fatalf("validateAddress(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("error %v does not wrap ErrInvalidArgument", err)
			}
		})
	}
}

func TestValidateTenant(t *testing.T) {
	tests := []struct {
		tenant string
		ok     bool
	}{
		{testTenant, true},
		{"AAAAAAAA-bbbb-CCCC-dddd-EEEEEEEEEEEE", true},
		{"contoso.onmicrosoft.com", true},
		{"contoso", false},
		{"", false},
		{"11111111-2222-3333-4444-55555555555", false},
		{"contoso.com/../x", false},
		{"contoso.com?x=1", false},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			if err := validateTenant(tt.tenant); (err == nil) != tt.ok {
				t.Errorf("validateTenant(%q) = %v, want ok=%v", tt.tenant, err, tt.ok)
			}
		})
	}
}

func TestValidateCmdlet(t *testing.T) {
	for name, ok := range map[string]bool{
		"Get-Mailbox": true, "Remove-BlockedSenderAddress": true, "get-mailbox": false, "Get-": false,
		"GetMailbox": false, "Get-Mailbox ": false, "Get-Mailbox;Remove-Mailbox": false, "Get-Mail-box": false,
	} {
		if err := validateCmdlet(name); (err == nil) != ok {
			t.Errorf("validateCmdlet(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
