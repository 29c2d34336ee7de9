package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// Group is a group the user belongs to.
type Group struct {
	ID                 string
	DisplayName        string
	IsAssignableToRole bool
	// AssignableUnknown: isAssignableToRole did not come back for this group.
	AssignableUnknown bool
}

// RoleAssignableGroups lists, all pages, the groups the user is a direct member of that
// can carry directory roles (isAssignableToRole). Role-assignable groups cannot contain
// groups, so direct membership is the only way to hold their roles.
func (c *Client) RoleAssignableGroups(ctx context.Context, userID string) ([]Group, error) {
	const op = "RoleAssignableGroups"
	if err := checkUser(op, userID); err != nil {
		return nil, err
	}
	// The SDK's cast segment is /memberOf/graph.group.
	builder := c.sdk.Users().ByUserId(userID).MemberOf().GraphGroup()
	found, err := listAll[models.Groupable](ctx, c, op,
		func(ctx context.Context) (models.GroupCollectionResponseable, error) {
			return builder.Get(ctx, &users.ItemMemberOfGraphGroupRequestBuilderGetRequestConfiguration{
				QueryParameters: &users.ItemMemberOfGraphGroupRequestBuilderGetQueryParameters{
					Select: []string{"id", "displayName", "isAssignableToRole"},
				},
			})
		},
		func(ctx context.Context, link string) (models.GroupCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	var groups []Group
	for _, g := range found {
		if g == nil {
			continue
		}
		switch assignable := g.GetIsAssignableToRole(); {
		case assignable == nil:
			// The property did not come back (it can go missing under some permissions):
			// the group may hold a role, so it is listed, marked unknown. Callers that
			// match group ids against role holders (the last-Global-Administrator guard)
			// see it; callers that read each role-assignable group's roles skip it.
			groups = append(groups, Group{ID: deref(g.GetId()), DisplayName: deref(g.GetDisplayName()), AssignableUnknown: true})
		case *assignable:
			groups = append(groups, Group{ID: deref(g.GetId()), DisplayName: deref(g.GetDisplayName()), IsAssignableToRole: true})
		}
	}
	return groups, nil
}

// RemoveGroupMember removes the user from the group (DELETE /groups/{g}/members/{u}/$ref).
func (c *Client) RemoveGroupMember(ctx context.Context, groupID, userID string) error {
	const op = "RemoveGroupMember"
	if err := checkGUIDs(op, "group id", groupID, "user id", userID); err != nil {
		return err
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		return c.sdk.Groups().ByGroupId(groupID).Members().ByDirectoryObjectId(userID).Ref().Delete(ctx, nil)
	})
}

// AddGroupMember adds the user to the group. A user who is already a member is not an
// error: restoring memberships must be repeatable.
func (c *Client) AddGroupMember(ctx context.Context, groupID, userID string) error {
	const op = "AddGroupMember"
	if err := checkGUIDs(op, "group id", groupID, "user id", userID); err != nil {
		return err
	}
	// Graph wants the member as a directoryObjects URL under its own root; on the
	// simulator that root is the loopback base URL.
	reference := c.baseURL + "/directoryObjects/" + userID
	body := models.NewReferenceCreate()
	body.SetOdataId(&reference)
	err := c.call(ctx, op, func(ctx context.Context) error {
		return c.sdk.Groups().ByGroupId(groupID).Members().Ref().Post(ctx, body, nil)
	})
	if isAlreadyMember(err) {
		return nil
	}
	return err
}

// isAlreadyMember recognises Graph's answer to adding an existing member: 400
// Request_BadRequest "One or more added object references already exist ...".
func isAlreadyMember(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Status == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(ge.Message), "already exist")
}

// Member is a user member of a group.
type Member struct {
	ID             string
	AccountEnabled bool
}

// GroupUsers lists the group's user members (the /members/graph.user cast, so devices,
// contacts and service principals are left out), all pages, with accountEnabled. An id
// that is not a group answers 404 (IsNotFound).
func (c *Client) GroupUsers(ctx context.Context, groupID string) ([]Member, error) {
	const op = "GroupUsers"
	if err := checkGUIDs(op, "group id", groupID); err != nil {
		return nil, err
	}
	builder := c.sdk.Groups().ByGroupId(groupID).Members().GraphUser()
	found, err := listAll[models.Userable](ctx, c, op,
		func(ctx context.Context) (models.UserCollectionResponseable, error) {
			return builder.Get(ctx, &groups.ItemMembersGraphUserRequestBuilderGetRequestConfiguration{
				QueryParameters: &groups.ItemMembersGraphUserRequestBuilderGetQueryParameters{
					Select: []string{"id", "accountEnabled"},
				},
			})
		},
		func(ctx context.Context, link string) (models.UserCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	members := make([]Member, 0, len(found))
	for _, u := range found {
		if u != nil {
			members = append(members, Member{ID: deref(u.GetId()), AccountEnabled: derefBool(u.GetAccountEnabled())})
		}
	}
	return members, nil
}
