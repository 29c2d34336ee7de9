package graph

import (
	"context"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
)

// ConsentPrincipal is the consentType of a grant a user made for themselves;
// ConsentAllPrincipals one an administrator made for the whole tenant.
const (
	ConsentPrincipal     = "Principal"
	ConsentAllPrincipals = "AllPrincipals"
)

// PermissionGrant is a delegated permission grant (oAuth2PermissionGrant): the client
// application (its service principal) may call the resource's API as the principal, with
// the scopes listed.
type PermissionGrant struct {
	ID          string `json:"id,omitempty"`
	ClientID    string `json:"clientId"`    // object id of the client's service principal
	ConsentType string `json:"consentType"` // ConsentPrincipal or ConsentAllPrincipals
	PrincipalID string `json:"principalId,omitempty"`
	ResourceID  string `json:"resourceId"` // object id of the API's service principal
	Scope       string `json:"scope"`      // space-separated delegated permissions
}

// PermissionGrants lists, all pages, the delegated permission grants made for one
// principal (GET /oauth2PermissionGrants?$filter=principalId eq '{id}').
func (c *Client) PermissionGrants(ctx context.Context, principalID string) ([]PermissionGrant, error) {
	return c.grantsWhere(ctx, "PermissionGrants", "principalId", principalID)
}

// PermissionGrantsForClient lists, all pages, the delegated permission grants of one
// client application's service principal, for every principal and tenant-wide
// (GET /oauth2PermissionGrants?$filter=clientId eq '{id}').
func (c *Client) PermissionGrantsForClient(ctx context.Context, clientID string) ([]PermissionGrant, error) {
	return c.grantsWhere(ctx, "PermissionGrantsForClient", "clientId", clientID)
}

func (c *Client) grantsWhere(ctx context.Context, op, property, id string) ([]PermissionGrant, error) {
	filter, err := idFilter(op, property, id)
	if err != nil {
		return nil, err
	}
	builder := c.sdk.Oauth2PermissionGrants()
	found, err := listAll[models.OAuth2PermissionGrantable](ctx, c, op,
		func(ctx context.Context) (models.OAuth2PermissionGrantCollectionResponseable, error) {
			return builder.Get(ctx, &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
				QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: filter},
			})
		},
		func(ctx context.Context, link string) (models.OAuth2PermissionGrantCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	grants := make([]PermissionGrant, 0, len(found))
	for _, g := range found {
		if g == nil {
			continue
		}
		grants = append(grants, PermissionGrant{
			ID: deref(g.GetId()), ClientID: deref(g.GetClientId()), ConsentType: deref(g.GetConsentType()),
			PrincipalID: deref(g.GetPrincipalId()), ResourceID: deref(g.GetResourceId()), Scope: strings.TrimSpace(deref(g.GetScope())),
		})
	}
	return grants, nil
}

// DeletePermissionGrant deletes a delegated permission grant
// (DELETE /oauth2PermissionGrants/{id}).
func (c *Client) DeletePermissionGrant(ctx context.Context, id string) error {
	const op = "DeletePermissionGrant"
	if !validEntityKey(id) {
		return invalid(op, "permission grant id", id)
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		return c.sdk.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(id).Delete(ctx, nil)
	})
}

// CreatePermissionGrant creates a delegated permission grant (POST /oauth2PermissionGrants)
// and returns its id. Graph answers 409 Request_MultipleObjectsWithSameKeyValue when a
// grant for the same client, resource and principal exists: there is one grant per
// combination, holding every scope.
func (c *Client) CreatePermissionGrant(ctx context.Context, g PermissionGrant) (string, error) {
	const op = "CreatePermissionGrant"
	if err := checkGUIDs(op, "client id", g.ClientID, "resource id", g.ResourceID); err != nil {
		return "", err
	}
	body := models.NewOAuth2PermissionGrant()
	body.SetClientId(&g.ClientID)
	body.SetResourceId(&g.ResourceID)
	body.SetConsentType(&g.ConsentType)
	body.SetScope(&g.Scope)
	switch g.ConsentType {
	case ConsentPrincipal:
		if err := checkGUIDs(op, "principal id", g.PrincipalID); err != nil {
			return "", err
		}
		body.SetPrincipalId(&g.PrincipalID)
	case ConsentAllPrincipals:
	default:
		return "", invalid(op, "consent type", g.ConsentType)
	}
	var created models.OAuth2PermissionGrantable
	err := c.call(ctx, op, func(ctx context.Context) error {
		var err error
		created, err = c.sdk.Oauth2PermissionGrants().Post(ctx, body, nil)
		return err
	})
	if err != nil {
		return "", err
	}
	if created == nil {
		return "", &Error{Op: op, Message: "empty answer"}
	}
	return deref(created.GetId()), nil
}

// SetPermissionGrantScope replaces the scopes of an existing grant
// (PATCH /oauth2PermissionGrants/{id} with scope).
func (c *Client) SetPermissionGrantScope(ctx context.Context, id, scope string) error {
	const op = "SetPermissionGrantScope"
	if !validEntityKey(id) {
		return invalid(op, "permission grant id", id)
	}
	body := models.NewOAuth2PermissionGrant()
	body.SetScope(&scope)
	return c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(id).Patch(ctx, body, nil)
		return err
	})
}

// ServicePrincipal names an application's identity in the tenant.
type ServicePrincipal struct {
	ID          string
	AppID       string
	DisplayName string
}

// GetServicePrincipal reads a service principal's names
// (GET /servicePrincipals/{id}?$select=id,appId,displayName), to say which application a
// grant let act as the user.
func (c *Client) GetServicePrincipal(ctx context.Context, id string) (ServicePrincipal, error) {
	const op = "GetServicePrincipal"
	if err := checkGUIDs(op, "service principal id", id); err != nil {
		return ServicePrincipal{}, err
	}
	var got models.ServicePrincipalable
	err := c.call(ctx, op, func(ctx context.Context) error {
		var err error
		got, err = c.sdk.ServicePrincipals().ByServicePrincipalId(id).Get(ctx, &serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: []string{"id", "appId", "displayName"}},
		})
		return err
	})
	if err != nil {
		return ServicePrincipal{}, err
	}
	if got == nil {
		return ServicePrincipal{}, &Error{Op: op, Message: "empty answer"}
	}
	return ServicePrincipal{ID: deref(got.GetId()), AppID: deref(got.GetAppId()), DisplayName: deref(got.GetDisplayName())}, nil
}
