package graph

import (
	"context"

	"github.com/microsoftgraph/msgraph-sdk-go/domains"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// VerifiedDomains lists the tenant's verified domain names (GET /domains). The inbox-rule
// step falls back to it when Exchange cannot list the accepted domains.
func (c *Client) VerifiedDomains(ctx context.Context) ([]string, error) {
	const op = "VerifiedDomains"
	builder := c.sdk.Domains()
	found, err := listAll[models.Domainable](ctx, c, op,
		func(ctx context.Context) (models.DomainCollectionResponseable, error) {
			return builder.Get(ctx, &domains.DomainsRequestBuilderGetRequestConfiguration{
				QueryParameters: &domains.DomainsRequestBuilderGetQueryParameters{Select: []string{"id", "isVerified"}},
			})
		},
		func(ctx context.Context, link string) (models.DomainCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range found {
		if d != nil && derefBool(d.GetIsVerified()) && deref(d.GetId()) != "" {
			names = append(names, deref(d.GetId()))
		}
	}
	return names, nil
}
