package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
)

// GlobalAdministratorTemplateID is the role template id (and, for built-in roles, the
// role definition id) of Global Administrator.
const GlobalAdministratorTemplateID = "62e90394-69f5-4237-9190-012177145e10"

// RoleAssignment is an active directory role assignment (roleManagement/directory/roleAssignments).
type RoleAssignment struct {
	ID               string
	PrincipalID      string
	RoleDefinitionID string
	RoleName         string // from the expanded roleDefinition; empty when not expanded
	DirectoryScopeID string // "/" for the whole tenant
	BuiltIn          bool
	TemplateID       string
	// Principal is the assigned principal as the listing expanded it (RoleAssignmentsForRole);
	// nil when it was not expanded or came back null (a deleted object).
	Principal *Principal
}

// Principal kinds of an expanded role assignment principal.
const (
	PrincipalUser             = "user"
	PrincipalGroup            = "group"
	PrincipalServicePrincipal = "servicePrincipal"
)

// Principal is what an expanded role assignment says of its principal: the kind
// (PrincipalUser, PrincipalGroup, PrincipalServicePrincipal, or "" for another or an
// unknown type) and, for a user, whether the account is enabled (nil when the expansion did
// not carry accountEnabled; the caller then reads the user).
type Principal struct {
	Kind              string
	AccountEnabled    *bool
	UserPrincipalName string
}

// RoleAssignments lists every active role assignment of a principal, all pages, with
// the role definition expanded.
func (c *Client) RoleAssignments(ctx context.Context, principalID string) ([]RoleAssignment, error) {
	const op = "RoleAssignments"
	filter, err := idFilter(op, "principalId", principalID)
	if err != nil {
		return nil, err
	}
	return expandingRoleDefinition(func(expand []string) ([]RoleAssignment, error) {
		return c.listRoleAssignments(ctx, op, &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{
			Filter: filter,
			Expand: expand,
		})
	})
}

// expandingRoleDefinition runs a listing with $expand=roleDefinition and, when the answer
// is 400, once more without it. Graph supports the expansion on these collections; a
// service or proxy that does not is asked again (role names then fall back to the role
// definition id) rather than failing the whole step. A tenant without a PIM licence
// answers 400 as well, whatever the query: that is final, not asked again.
func expandingRoleDefinition[T any](list func(expand []string) ([]T, error)) ([]T, error) {
	found, err := list([]string{"roleDefinition"})
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest && e.Code != PIMLicenceRequired {
		return list(nil)
	}
	return found, err
}

// RoleAssignmentsForRole lists every active assignment of one role definition, all
// pages, with each principal expanded (used to count the tenant's Global Administrators:
// the expansion says which principals are enabled users without a read of each, the
// documented example of the listing: $filter on roleDefinitionId and $expand=principal).
// A 400 to the expansion is asked again without it; the principals are then unknown.
func (c *Client) RoleAssignmentsForRole(ctx context.Context, roleDefinitionID string) ([]RoleAssignment, error) {
	const op = "RoleAssignmentsForRole"
	filter, err := idFilter(op, "roleDefinitionId", roleDefinitionID)
	if err != nil {
		return nil, err
	}
	list := func(expand []string) ([]RoleAssignment, error) {
		return c.listRoleAssignments(ctx, op, &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{
			Filter: filter,
			Expand: expand,
		})
	}
	found, err := list([]string{"principal"})
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest {
		return list(nil)
	}
	return found, err
}

// describePrincipal reads an expanded principal; nil when there is none.
func describePrincipal(p models.DirectoryObjectable) *Principal {
	switch p := p.(type) {
	case nil:
		return nil
	case models.Userable:
		return &Principal{Kind: PrincipalUser, AccountEnabled: p.GetAccountEnabled(), UserPrincipalName: deref(p.GetUserPrincipalName())}
	case models.Groupable:
		return &Principal{Kind: PrincipalGroup}
	case models.ServicePrincipalable:
		return &Principal{Kind: PrincipalServicePrincipal}
	default:
		return &Principal{}
	}
}

func (c *Client) listRoleAssignments(ctx context.Context, op string, query *rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters) ([]RoleAssignment, error) {
	builder := c.sdk.RoleManagement().Directory().RoleAssignments()
	found, err := listAll[models.UnifiedRoleAssignmentable](ctx, c, op,
		func(ctx context.Context) (models.UnifiedRoleAssignmentCollectionResponseable, error) {
			return builder.Get(ctx, &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{QueryParameters: query})
		},
		func(ctx context.Context, link string) (models.UnifiedRoleAssignmentCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	assignments := make([]RoleAssignment, 0, len(found))
	for _, a := range found {
		if a == nil {
			continue
		}
		role := describeRole(a.GetRoleDefinition())
		assignments = append(assignments, RoleAssignment{
			ID:               deref(a.GetId()),
			PrincipalID:      deref(a.GetPrincipalId()),
			RoleDefinitionID: deref(a.GetRoleDefinitionId()),
			RoleName:         role.name,
			DirectoryScopeID: deref(a.GetDirectoryScopeId()),
			BuiltIn:          role.builtIn,
			TemplateID:       role.templateID,
			Principal:        describePrincipal(a.GetPrincipal()),
		})
	}
	return assignments, nil
}

// DeleteRoleAssignment removes an active role assignment by its id.
func (c *Client) DeleteRoleAssignment(ctx context.Context, id string) error {
	const op = "DeleteRoleAssignment"
	if !validEntityKey(id) {
		return invalid(op, "role assignment id", id)
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		return c.sdk.RoleManagement().Directory().RoleAssignments().ByUnifiedRoleAssignmentId(id).Delete(ctx, nil)
	})
}

// CreateRoleAssignment grants a role to a principal at a directory scope ("/" for the
// tenant) and returns the new assignment's id.
func (c *Client) CreateRoleAssignment(ctx context.Context, principalID, roleDefinitionID, scope string) (string, error) {
	const op = "CreateRoleAssignment"
	if err := checkGUIDs(op, "principal id", principalID, "role definition id", roleDefinitionID); err != nil {
		return "", err
	}
	if !validScope(scope) {
		return "", invalid(op, "directory scope id", scope)
	}
	body := models.NewUnifiedRoleAssignment()
	body.SetPrincipalId(&principalID)
	body.SetRoleDefinitionId(&roleDefinitionID)
	body.SetDirectoryScopeId(&scope)

	var created models.UnifiedRoleAssignmentable
	err := c.call(ctx, op, func(ctx context.Context) error {
		var err error
		created, err = c.sdk.RoleManagement().Directory().RoleAssignments().Post(ctx, body, nil)
		return err
	})
	if err != nil {
		return "", err
	}
	if created == nil || deref(created.GetId()) == "" {
		return "", &Error{Op: op, Message: "the answer holds no assignment id"}
	}
	return deref(created.GetId()), nil
}

// roleInfo is what an expanded roleDefinition tells about a role.
type roleInfo struct {
	name, templateID string
	builtIn          bool
}

func describeRole(def models.UnifiedRoleDefinitionable) roleInfo {
	if def == nil {
		return roleInfo{}
	}
	return roleInfo{
		name:       deref(def.GetDisplayName()),
		templateID: deref(def.GetTemplateId()),
		builtIn:    derefBool(def.GetIsBuiltIn()),
	}
}

// idFilter builds the $filter "<property> eq '<id>'" from a validated GUID only, so no
// quote or operator can reach the expression.
func idFilter(op, property, id string) (*string, error) {
	if !ValidID(id) {
		return nil, invalid(op, property, id)
	}
	filter := fmt.Sprintf("%s eq '%s'", property, id)
	return &filter, nil
}
