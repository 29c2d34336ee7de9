package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// User is the part of a Graph user the steps need.
type User struct {
	ID                    string
	UserPrincipalName     string
	DisplayName           string
	Mail                  string
	OnPremisesSyncEnabled bool // synced from on-premises AD: the password is reset there
	AccountEnabled        bool
}

// userFields is the $select of GetUser: Graph omits onPremisesSyncEnabled unless asked.
var userFields = []string{"id", "userPrincipalName", "displayName", "mail", "onPremisesSyncEnabled", "accountEnabled"}

// GetUser reads a user by object id or user principal name.
func (c *Client) GetUser(ctx context.Context, idOrUPN string) (User, error) {
	const op = "GetUser"
	if err := checkUser(op, idOrUPN); err != nil {
		return User{}, err
	}
	var got models.Userable
	err := c.call(ctx, op, func(ctx context.Context) error {
		var err error
		got, err = c.sdk.Users().ByUserId(idOrUPN).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields},
		})
		return err
	})
	if err != nil {
		return User{}, err
	}
	if got == nil {
		return User{}, &Error{Op: op, Message: "empty answer"}
	}
	return User{
		ID:                    deref(got.GetId()),
		UserPrincipalName:     deref(got.GetUserPrincipalName()),
		DisplayName:           deref(got.GetDisplayName()),
		Mail:                  deref(got.GetMail()),
		OnPremisesSyncEnabled: derefBool(got.GetOnPremisesSyncEnabled()),
		AccountEnabled:        derefBool(got.GetAccountEnabled()),
	}, nil
}

// SetPassword sets a new password that the user must change at next sign-in
// (PATCH /users/{id} with passwordProfile). A synced user answers 400 Request_BadRequest.
func (c *Client) SetPassword(ctx context.Context, userID, password string) error {
	const op = "SetPassword"
	if err := checkUser(op, userID); err != nil {
		return err
	}
	if password == "" {
		return &Error{Op: op, Message: "empty password"}
	}
	profile := models.NewPasswordProfile()
	profile.SetPassword(&password)
	forceChange := true
	profile.SetForceChangePasswordNextSignIn(&forceChange)
	body := models.NewUser()
	body.SetPasswordProfile(profile)

	err := c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.Users().ByUserId(userID).Patch(ctx, body, nil)
		return err
	})
	return redactPassword(err, password)
}

// redactPassword removes the password from an error message, in case a service or a
// proxy ever echoes the request body back.
func redactPassword(err error, password string) error {
	var ge *Error
	if errors.As(err, &ge) && strings.Contains(ge.Message, password) {
		ge.Message = strings.ReplaceAll(ge.Message, password, "[redacted]")
	}
	return err
}

// RevokeSessions invalidates the user's refresh tokens and session cookies.
func (c *Client) RevokeSessions(ctx context.Context, userID string) error {
	const op = "RevokeSessions"
	if err := checkUser(op, userID); err != nil {
		return err
	}
	var revoked bool
	err := c.call(ctx, op, func(ctx context.Context) error {
		resp, err := c.sdk.Users().ByUserId(userID).RevokeSignInSessions().PostAsRevokeSignInSessionsPostResponse(ctx, nil)
		if resp != nil {
			revoked = derefBool(resp.GetValue())
		}
		return err
	})
	if err != nil {
		return err
	}
	if !revoked {
		return &Error{Op: op, Message: "Graph did not confirm the revocation (value is not true)"}
	}
	return nil
}

func derefBool(b *bool) bool { return b != nil && *b }

// UserByProxyAddress finds the user who has address among its proxy addresses (GET /users
// with $filter=proxyAddresses/any(x:x eq 'smtp:<address>')). A mail address need not be the
// user's UPN: Exchange names a restricted sender by its SMTP address. An equality match inside
// any() is a default query (no ConsistencyLevel: eventual and $count, which the advanced
// operators need); Entra compares directory strings without regard to case, so "smtp:" matches
// the primary "SMTP:" address too. The address must look like one (the UPN shape) before it
// reaches the filter, and a quote in it is doubled as OData requires. No user: an error
// IsNotFound recognises; two users (impossible in a consistent directory): an error.
func (c *Client) UserByProxyAddress(ctx context.Context, address string) (User, error) {
	const op = "UserByProxyAddress"
	if !ValidUPN(address) {
		return User{}, invalid(op, "SMTP address", address)
	}
	filter := "proxyAddresses/any(x:x eq 'smtp:" + strings.ReplaceAll(address, "'", "''") + "')"
	top := int32(2)
	var got models.UserCollectionResponseable
	err := c.call(ctx, op, func(ctx context.Context) error {
		var err error
		got, err = c.sdk.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &filter, Select: userFields, Top: &top},
		})
		return err
	})
	if err != nil {
		return User{}, err
	}
	if got == nil {
		return User{}, &Error{Op: op, Message: "empty answer"}
	}
	switch list := got.GetValue(); len(list) {
	case 0:
		return User{}, &Error{Op: op, Status: http.StatusNotFound, Code: "Request_ResourceNotFound", Message: "no user has the proxy address smtp:" + address}
	case 1:
		u := list[0]
		return User{
			ID:                    deref(u.GetId()),
			UserPrincipalName:     deref(u.GetUserPrincipalName()),
			DisplayName:           deref(u.GetDisplayName()),
			Mail:                  deref(u.GetMail()),
			OnPremisesSyncEnabled: derefBool(u.GetOnPremisesSyncEnabled()),
			AccountEnabled:        derefBool(u.GetAccountEnabled()),
		}, nil
	default:
		return User{}, &Error{Op: op, Message: "more than one user has the proxy address smtp:" + address}
	}
}
