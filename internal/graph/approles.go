package graph

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// AppRoleAssignment is an app role granted to a user, group or service principal on a
// resource's service principal (appRoleAssignment). Granted to a client's service
// principal it is an application permission: the app acts as itself, for every user.
type AppRoleAssignment struct {
	ID            string
	AppRoleID     string
	PrincipalID   string
	PrincipalType string // "User", "Group" or "ServicePrincipal"
	PrincipalName string
	ResourceID    string // object id of the resource's service principal
	ResourceName  string
	Created       time.Time // createdDateTime, UTC; zero when Graph gave none
}

// AppRoleAssignmentsOf lists, all pages, the app roles granted to a service principal
// (GET /servicePrincipals/{id}/appRoleAssignments): the application permissions a client
// holds.
func (c *Client) AppRoleAssignmentsOf(ctx context.Context, servicePrincipalID string) ([]AppRoleAssignment, error) {
	const op = "AppRoleAssignmentsOf"
	if err := checkGUIDs(op, "service principal id", servicePrincipalID); err != nil {
		return nil, err
	}
	builder := c.sdk.ServicePrincipals().ByServicePrincipalId(servicePrincipalID).AppRoleAssignments()
	found, err := listAll[models.AppRoleAssignmentable](ctx, c, op,
		func(ctx context.Context) (models.AppRoleAssignmentCollectionResponseable, error) {
			return builder.Get(ctx, nil)
		},
		func(ctx context.Context, link string) (models.AppRoleAssignmentCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	return toAppRoleAssignments(found), nil
}

// AppRoleAssignedTo lists, all pages, the app roles of a resource's service principal
// granted to users, groups and service principals
// (GET /servicePrincipals/{id}/appRoleAssignedTo).
func (c *Client) AppRoleAssignedTo(ctx context.Context, resourceID string) ([]AppRoleAssignment, error) {
	const op = "AppRoleAssignedTo"
	if err := checkGUIDs(op, "service principal id", resourceID); err != nil {
		return nil, err
	}
	builder := c.sdk.ServicePrincipals().ByServicePrincipalId(resourceID).AppRoleAssignedTo()
	found, err := listAll[models.AppRoleAssignmentable](ctx, c, op,
		func(ctx context.Context) (models.AppRoleAssignmentCollectionResponseable, error) {
			return builder.Get(ctx, nil)
		},
		func(ctx context.Context, link string) (models.AppRoleAssignmentCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	return toAppRoleAssignments(found), nil
}

func toAppRoleAssignments(found []models.AppRoleAssignmentable) []AppRoleAssignment {
	out := make([]AppRoleAssignment, 0, len(found))
	for _, a := range found {
		if a == nil {
			continue
		}
		got := AppRoleAssignment{
			ID: deref(a.GetId()), AppRoleID: uuidString(a.GetAppRoleId()), PrincipalID: uuidString(a.GetPrincipalId()),
			PrincipalType: deref(a.GetPrincipalType()), PrincipalName: deref(a.GetPrincipalDisplayName()),
			ResourceID: uuidString(a.GetResourceId()), ResourceName: deref(a.GetResourceDisplayName()),
		}
		if t := a.GetCreatedDateTime(); t != nil {
			got.Created = t.UTC()
		}
		out = append(out, got)
	}
	return out
}

func uuidString(u *uuid.UUID) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// DeleteAppRoleAssignedTo deletes an app role assignment of a resource's service principal
// (DELETE /servicePrincipals/{resourceId}/appRoleAssignedTo/{id}), whoever holds it; the
// page of the call recommends it over deleting through the principal.
func (c *Client) DeleteAppRoleAssignedTo(ctx context.Context, resourceID, id string) error {
	const op = "DeleteAppRoleAssignedTo"
	if err := checkGUIDs(op, "service principal id", resourceID); err != nil {
		return err
	}
	if !validEntityKey(id) {
		return invalid(op, "app role assignment id", id)
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		return c.sdk.ServicePrincipals().ByServicePrincipalId(resourceID).AppRoleAssignedTo().ByAppRoleAssignmentId(id).Delete(ctx, nil)
	})
}

// CreateAppRoleAssignedTo grants an app role of a resource's service principal to a
// principal (POST /servicePrincipals/{resourceId}/appRoleAssignedTo with principalId,
// resourceId, appRoleId) and returns the new assignment's id.
func (c *Client) CreateAppRoleAssignedTo(ctx context.Context, a AppRoleAssignment) (string, error) {
	const op = "CreateAppRoleAssignedTo"
	if err := checkGUIDs(op, "principal id", a.PrincipalID, "resource id", a.ResourceID, "app role id", a.AppRoleID); err != nil {
		return "", err
	}
	principal, resource, role := uuid.MustParse(a.PrincipalID), uuid.MustParse(a.ResourceID), uuid.MustParse(a.AppRoleID)
	body := models.NewAppRoleAssignment()
	body.SetPrincipalId(&principal)
	body.SetResourceId(&resource)
	body.SetAppRoleId(&role)
	var created models.AppRoleAssignmentable
	err := c.call(ctx, op, func(ctx context.Context) error {
		var err error
		created, err = c.sdk.ServicePrincipals().ByServicePrincipalId(a.ResourceID).AppRoleAssignedTo().Post(ctx, body, nil)
		return err
	})
	if err != nil {
		return "", err
	}
	if created == nil {
		return "", &Error{Op: op, Message: "empty answer"}
	}
	return strings.TrimSpace(deref(created.GetId())), nil
}
