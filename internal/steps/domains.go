package steps

import (
	"context"
	"strings"

	"github.com/tourniquet/tourniquet/internal/inboxrules"
)

// verifiedDomainLister is the optional directory call the accepted-domain fallback uses.
type verifiedDomainLister interface {
	VerifiedDomains(ctx context.Context) ([]string, error)
}

// acceptedDomains returns the tenant's accepted domains: what makes a forwarding address
// internal. Exchange's Get-AcceptedDomain is the authority. When Exchange refuses it
// (a permanent error, e.g. the identity's Exchange role lacks the cmdlet), the directory's
// verified domains stand in, and failing that the target's own domains, so the step still
// flags forwarding to anything outside them. A transient failure is returned as is, so the
// step is retried rather than run on a guess.
func (r *Runner) acceptedDomains(ctx context.Context, target Target) (inboxrules.Domains, error) {
	found, err := r.Mailboxes.AcceptedDomains(ctx)
	if err == nil && len(found) > 0 {
		domains := make(inboxrules.Domains, 0, len(found))
		for _, d := range found {
			domains = append(domains, d.DomainName)
		}
		return domains, nil
	}
	if isTransient(err) {
		return nil, err
	}
	if lister, ok := r.Directory.(verifiedDomainLister); ok {
		names, derr := lister.VerifiedDomains(ctx)
		if derr == nil && len(names) > 0 {
			return names, nil
		}
		if isTransient(derr) {
			return nil, derr
		}
	}
	var own inboxrules.Domains
	for _, addr := range []string{target.UPN, target.Mail} {
		if _, domain, ok := strings.Cut(addr, "@"); ok && domain != "" {
			own = append(own, strings.ToLower(domain))
		}
	}
	return own, nil
}
