package exchange

import (
	"context"
	"fmt"
)

// AcceptedDomain is one of the tenant's accepted domains (Get-AcceptedDomain).
type AcceptedDomain struct {
	DomainName string
	DomainType string // "Authoritative", "InternalRelay" or "ExternalRelay"
	Default    bool
}

type acceptedDomainWire struct {
	DomainName text
	DomainType text
	Default    flag
}

// AcceptedDomains lists the tenant's accepted domains; the inbox-rule classifier treats
// addresses in them (and their subdomains) as internal.
func (c *Client) AcceptedDomains(ctx context.Context) ([]AcceptedDomain, error) {
	const cmdlet = "Get-AcceptedDomain"
	items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, nil)
	if err != nil {
		return nil, fmt.Errorf("exchange.AcceptedDomains: %w", err)
	}
	domains := make([]AcceptedDomain, 0, len(items))
	for i, item := range items {
		var w acceptedDomainWire
		if _, _, err := decodeItem(item, &w); err != nil {
			return nil, fmt.Errorf("exchange.AcceptedDomains: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
		}
		domains = append(domains, AcceptedDomain{DomainName: string(w.DomainName), DomainType: string(w.DomainType), Default: bool(w.Default)})
	}
	return domains, nil
}
