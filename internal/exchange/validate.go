package exchange

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// ErrInvalidArgument marks a value the client refused to send. It is never retried.
var ErrInvalidArgument = errors.New("invalid argument")

var (
	guidPattern   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	cmdletPattern = regexp.MustCompile(`^[A-Z][A-Za-z]*-[A-Z][A-Za-z0-9]*$`) // Get-MessageTraceV2
)

// localPartSpecials are the characters besides letters and digits we accept before the
// "@". It is RFC 5322 atext without the ones that never appear in Entra UPNs or SMTP
// addresses we act on; quotes, backslashes, spaces and control characters are refused.
// The apostrophe stays: Entra allows it (o'neil@contoso.com) and JSON encoding makes it
// harmless.
const localPartSpecials = ".!#$%&'*+-/=?^_`{|}~"

// validateAddress is a deliberately simple, strict check of a UPN or SMTP address that
// we put into a cmdlet parameter or the X-AnchorMailbox header.
func validateAddress(addr string) error {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || len(addr) > 254 {
		return fmt.Errorf("%w: %q is not an e-mail address", ErrInvalidArgument, addr)
	}
	if local == "" || len(local) > 64 || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return fmt.Errorf("%w: %q has an invalid local part", ErrInvalidArgument, addr)
	}
	for _, r := range local {
		if !isASCIIAlnum(r) && !strings.ContainsRune(localPartSpecials, r) {
			return fmt.Errorf("%w: %q contains the character %q", ErrInvalidArgument, addr, r)
		}
	}
	if err := validateDomain(domain); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrInvalidArgument, addr, err)
	}
	return nil
}

// validateDomain accepts an ASCII DNS name with at least two labels.
func validateDomain(domain string) error {
	if len(domain) > 253 {
		return errors.New("domain too long")
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return fmt.Errorf("domain %q has no dot", domain)
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("domain %q has an invalid label", domain)
		}
		for _, r := range label {
			if !isASCIIAlnum(r) && r != '-' {
				return fmt.Errorf("domain %q contains the character %q", domain, r)
			}
		}
	}
	return nil
}

// validateTenant accepts a tenant GUID or a domain name (contoso.onmicrosoft.com).
func validateTenant(tenant string) error {
	if guidPattern.MatchString(tenant) {
		return nil
	}
	if err := validateDomain(tenant); err != nil {
		return fmt.Errorf("%w: tenant %q is neither a GUID nor a domain name", ErrInvalidArgument, tenant)
	}
	return nil
}

func validateCmdlet(name string) error {
	if !cmdletPattern.MatchString(name) {
		return fmt.Errorf("%w: cmdlet name %q is not Verb-Noun", ErrInvalidArgument, name)
	}
	return nil
}

// ruleIdentityFor turns a rule identity as Get-InboxRule returned it into the Identity we
// send for the mailbox upn. The identity came from Exchange itself, so it is sent as listed
// ("<upn>\<id>", or "<alias or display name>\<id>": Exchange matches its own form most
// surely); a bare "<id>" is sent as "<upn>\<id>". An address prefix naming another mailbox
// than upn is refused outright, so a rule action never leaves the mailbox the caller named.
// The id is Exchange's rule id (a 64-bit decimal in practice); anything beyond letters,
// digits, '.', '_' and '-' is refused so nothing else reaches the cmdlet.
func ruleIdentityFor(upn, identity string) (string, error) {
	if err := validateAddress(upn); err != nil {
		return "", err
	}
	prefix, id, hasPrefix := cutLast(identity, `\`)
	if !hasPrefix {
		id = identity
	}
	if !ruleIDPattern.MatchString(id) {
		return "", fmt.Errorf("%w: rule identity %q does not end in a rule id", ErrInvalidArgument, identity)
	}
	if !hasPrefix {
		return upn + `\` + id, nil
	}
	if prefix == "" || strings.ContainsFunc(prefix, func(r rune) bool { return unicode.IsControl(r) || r == '"' || r == '\\' }) {
		return "", fmt.Errorf("%w: rule identity %q has an empty prefix, a control character, quote or extra backslash", ErrInvalidArgument, identity)
	}
	if strings.Contains(prefix, "@") && !strings.EqualFold(prefix, upn) {
		return "", fmt.Errorf("%w: rule identity %q belongs to another mailbox than %q", ErrInvalidArgument, identity, upn)
	}
	return identity, nil
}

var ruleIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func isASCIIAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
