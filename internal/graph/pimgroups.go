package graph

import (
	"context"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/identitygovernance"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// GroupEligibility is a PIM for Groups eligible membership: the principal can activate
// membership of the group, and with it the group's directory roles, whenever it likes.
type GroupEligibility struct {
	ID           string
	PrincipalID  string
	GroupID      string
	MemberType   string // "direct", or "group" when inherited through another group
	Start        *time.Time
	End          *time.Time
	NoExpiration bool
}

// GroupEligibilities lists the principal's eligible group memberships (PIM for Groups,
// accessId member), all pages. A tenant without Entra ID P2 / ID Governance answers
// AadPremiumLicenseRequired (IsPIMUnavailable).
func (c *Client) GroupEligibilities(ctx context.Context, principalID string) ([]GroupEligibility, error) {
	const op = "GroupEligibilities"
	filter, err := idFilter(op, "principalId", principalID)
	if err != nil {
		return nil, err
	}
	builder := c.sdk.IdentityGovernance().PrivilegedAccess().Group().EligibilitySchedules()
	found, err := listAll[models.PrivilegedAccessGroupEligibilityScheduleable](ctx, c, op,
		func(ctx context.Context) (models.PrivilegedAccessGroupEligibilityScheduleCollectionResponseable, error) {
			return builder.Get(ctx, &identitygovernance.PrivilegedAccessGroupEligibilitySchedulesRequestBuilderGetRequestConfiguration{
				QueryParameters: &identitygovernance.PrivilegedAccessGroupEligibilitySchedulesRequestBuilderGetQueryParameters{Filter: filter},
			})
		},
		func(ctx context.Context, link string) (models.PrivilegedAccessGroupEligibilityScheduleCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	var out []GroupEligibility
	for _, s := range found {
		if s == nil || s.GetAccessId() == nil || *s.GetAccessId() != models.MEMBER_PRIVILEGEDACCESSGROUPRELATIONSHIPS {
			continue // ownership eligibility is not a role grant
		}
		e := GroupEligibility{ID: deref(s.GetId()), PrincipalID: deref(s.GetPrincipalId()), GroupID: deref(s.GetGroupId())}
		if mt := s.GetMemberType(); mt != nil {
			e.MemberType = mt.String()
		}
		if info := s.GetScheduleInfo(); info != nil {
			e.Start = info.GetStartDateTime()
			if exp := info.GetExpiration(); exp != nil {
				e.End = exp.GetEndDateTime()
				if kind := exp.GetTypeEscaped(); kind != nil && *kind == models.NOEXPIRATION_EXPIRATIONPATTERNTYPE {
					e.NoExpiration, e.End = true, nil
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// RemoveGroupEligibility removes an eligible group membership with an adminRemove request.
func (c *Client) RemoveGroupEligibility(ctx context.Context, e GroupEligibility, justification string) error {
	const op = "RemoveGroupEligibility"
	body, err := groupEligibilityRequest(op, models.ADMINREMOVE_SCHEDULEREQUESTACTIONS, e, justification)
	if err != nil {
		return err
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.IdentityGovernance().PrivilegedAccess().Group().EligibilityScheduleRequests().Post(ctx, body, nil)
		return err
	})
}

// GrantGroupEligibility makes the principal eligible for the group's membership again
// (adminAssign), starting now and expiring as the recorded eligibility did.
func (c *Client) GrantGroupEligibility(ctx context.Context, e GroupEligibility, justification string) error {
	const op = "GrantGroupEligibility"
	body, err := groupEligibilityRequest(op, models.ADMINASSIGN_SCHEDULEREQUESTACTIONS, e, justification)
	if err != nil {
		return err
	}
	info, err := c.restoredScheduleInfo(op, RoleSchedule{End: e.End, NoExpiration: e.NoExpiration})
	if err != nil {
		return err
	}
	body.SetScheduleInfo(info)
	return c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.IdentityGovernance().PrivilegedAccess().Group().EligibilityScheduleRequests().Post(ctx, body, nil)
		return err
	})
}

func groupEligibilityRequest(op string, action models.ScheduleRequestActions, e GroupEligibility, justification string) (models.PrivilegedAccessGroupEligibilityScheduleRequestable, error) {
	if err := checkGUIDs(op, "principal id", e.PrincipalID, "group id", e.GroupID); err != nil {
		return nil, err
	}
	access := models.MEMBER_PRIVILEGEDACCESSGROUPRELATIONSHIPS
	body := models.NewPrivilegedAccessGroupEligibilityScheduleRequest()
	body.SetAction(&action)
	body.SetAccessId(&access)
	body.SetPrincipalId(&e.PrincipalID)
	body.SetGroupId(&e.GroupID)
	if justification != "" {
		body.SetJustification(&justification)
	}
	return body, nil
}
