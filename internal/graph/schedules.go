package graph

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
)

// ErrScheduleEnded is returned (wrapped) by GrantEligible and GrantActive for a schedule
// whose recorded end has passed: there is nothing left to restore.
var ErrScheduleEnded = errors.New("the recorded schedule has already ended")

// RoleSchedule is a PIM schedule: an eligible assignment (roleEligibilitySchedules) or
// an active one (roleAssignmentSchedules). It holds what is needed to remove it and to
// grant it again with the same role, scope and expiration.
type RoleSchedule struct {
	ID               string
	PrincipalID      string
	RoleDefinitionID string
	RoleName         string
	DirectoryScopeID string
	MemberType       string // "Direct", or "Group" when inherited through a group
	AssignmentType   string // active schedules only: "Assigned" or "Activated"
	Start            *time.Time
	End              *time.Time // nil when the schedule does not expire or Graph gave none
	NoExpiration     bool
}

// EligibleSchedules lists the principal's PIM eligible assignments, all pages.
func (c *Client) EligibleSchedules(ctx context.Context, principalID string) ([]RoleSchedule, error) {
	const op = "EligibleSchedules"
	filter, err := idFilter(op, "principalId", principalID)
	if err != nil {
		return nil, err
	}
	builder := c.sdk.RoleManagement().Directory().RoleEligibilitySchedules()
	found, err := expandingRoleDefinition(func(expand []string) ([]models.UnifiedRoleEligibilityScheduleable, error) {
		return listAll[models.UnifiedRoleEligibilityScheduleable](ctx, c, op,
			func(ctx context.Context) (models.UnifiedRoleEligibilityScheduleCollectionResponseable, error) {
				return builder.Get(ctx, &rolemanagement.DirectoryRoleEligibilitySchedulesRequestBuilderGetRequestConfiguration{
					QueryParameters: &rolemanagement.DirectoryRoleEligibilitySchedulesRequestBuilderGetQueryParameters{
						Filter: filter, Expand: expand,
					},
				})
			},
			func(ctx context.Context, link string) (models.UnifiedRoleEligibilityScheduleCollectionResponseable, error) {
				return builder.WithUrl(link).Get(ctx, nil)
			})
	})
	if err != nil {
		return nil, err
	}
	schedules := make([]RoleSchedule, 0, len(found))
	for _, s := range found {
		if s != nil {
			schedules = append(schedules, toRoleSchedule(s, ""))
		}
	}
	return schedules, nil
}

// ActiveSchedules lists the principal's PIM active assignments (assigned or activated),
// all pages.
func (c *Client) ActiveSchedules(ctx context.Context, principalID string) ([]RoleSchedule, error) {
	const op = "ActiveSchedules"
	filter, err := idFilter(op, "principalId", principalID)
	if err != nil {
		return nil, err
	}
	builder := c.sdk.RoleManagement().Directory().RoleAssignmentSchedules()
	found, err := expandingRoleDefinition(func(expand []string) ([]models.UnifiedRoleAssignmentScheduleable, error) {
		return listAll[models.UnifiedRoleAssignmentScheduleable](ctx, c, op,
			func(ctx context.Context) (models.UnifiedRoleAssignmentScheduleCollectionResponseable, error) {
				return builder.Get(ctx, &rolemanagement.DirectoryRoleAssignmentSchedulesRequestBuilderGetRequestConfiguration{
					QueryParameters: &rolemanagement.DirectoryRoleAssignmentSchedulesRequestBuilderGetQueryParameters{
						Filter: filter, Expand: expand,
					},
				})
			},
			func(ctx context.Context, link string) (models.UnifiedRoleAssignmentScheduleCollectionResponseable, error) {
				return builder.WithUrl(link).Get(ctx, nil)
			})
	})
	if err != nil {
		return nil, err
	}
	schedules := make([]RoleSchedule, 0, len(found))
	for _, s := range found {
		if s != nil {
			schedules = append(schedules, toRoleSchedule(s, deref(s.GetAssignmentType())))
		}
	}
	return schedules, nil
}

// RemoveEligible removes an eligible assignment with an adminRemove request.
func (c *Client) RemoveEligible(ctx context.Context, s RoleSchedule, justification string) error {
	const op = "RemoveEligible"
	body, err := eligibilityRequest(op, models.ADMINREMOVE_UNIFIEDROLESCHEDULEREQUESTACTIONS, s, justification)
	if err != nil {
		return err
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.RoleManagement().Directory().RoleEligibilityScheduleRequests().Post(ctx, body, nil)
		return err
	})
}

// RemoveActive removes an active PIM assignment with an adminRemove request.
func (c *Client) RemoveActive(ctx context.Context, s RoleSchedule, justification string) error {
	const op = "RemoveActive"
	body, err := assignmentRequest(op, models.ADMINREMOVE_UNIFIEDROLESCHEDULEREQUESTACTIONS, s, justification)
	if err != nil {
		return err
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.RoleManagement().Directory().RoleAssignmentScheduleRequests().Post(ctx, body, nil)
		return err
	})
}

// GrantEligible makes the principal eligible again (adminAssign) for the same role and
// scope, starting now and expiring as the recorded schedule did.
func (c *Client) GrantEligible(ctx context.Context, s RoleSchedule, justification string) error {
	const op = "GrantEligible"
	body, err := eligibilityRequest(op, models.ADMINASSIGN_UNIFIEDROLESCHEDULEREQUESTACTIONS, s, justification)
	if err != nil {
		return err
	}
	info, err := c.restoredScheduleInfo(op, s)
	if err != nil {
		return err
	}
	body.SetScheduleInfo(info)
	return c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.RoleManagement().Directory().RoleEligibilityScheduleRequests().Post(ctx, body, nil)
		return err
	})
}

// GrantActive gives the principal the active assignment again (adminAssign) for the
// same role and scope, starting now and expiring as the recorded schedule did.
func (c *Client) GrantActive(ctx context.Context, s RoleSchedule, justification string) error {
	const op = "GrantActive"
	body, err := assignmentRequest(op, models.ADMINASSIGN_UNIFIEDROLESCHEDULEREQUESTACTIONS, s, justification)
	if err != nil {
		return err
	}
	info, err := c.restoredScheduleInfo(op, s)
	if err != nil {
		return err
	}
	body.SetScheduleInfo(info)
	return c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.RoleManagement().Directory().RoleAssignmentScheduleRequests().Post(ctx, body, nil)
		return err
	})
}

// scheduleModel is what eligible and active schedules have in common.
type scheduleModel interface {
	models.UnifiedRoleScheduleBaseable
	GetMemberType() *string
	GetScheduleInfo() models.RequestScheduleable
}

func toRoleSchedule(s scheduleModel, assignmentType string) RoleSchedule {
	out := RoleSchedule{
		ID:               deref(s.GetId()),
		PrincipalID:      deref(s.GetPrincipalId()),
		RoleDefinitionID: deref(s.GetRoleDefinitionId()),
		RoleName:         describeRole(s.GetRoleDefinition()).name,
		DirectoryScopeID: deref(s.GetDirectoryScopeId()),
		MemberType:       deref(s.GetMemberType()),
		AssignmentType:   assignmentType,
	}
	info := s.GetScheduleInfo()
	if info == nil {
		return out
	}
	out.Start = info.GetStartDateTime()
	expiration := info.GetExpiration()
	if expiration == nil {
		return out
	}
	out.End = expiration.GetEndDateTime()
	kind := expiration.GetTypeEscaped()
	switch {
	case kind != nil && *kind == models.NOEXPIRATION_EXPIRATIONPATTERNTYPE:
		out.NoExpiration = true
		out.End = nil
	case out.End == nil && out.Start != nil && expiration.GetDuration() != nil:
		// afterDuration: turn the ISO 8601 duration into an end time.
		if d, err := expiration.GetDuration().ToDuration(); err == nil {
			end := out.Start.Add(d)
			out.End = &end
		}
	}
	return out
}

// scheduleRequestFields validates a schedule's identifiers before they go into a request.
func scheduleRequestFields(op string, s RoleSchedule) error {
	if err := checkGUIDs(op, "principal id", s.PrincipalID, "role definition id", s.RoleDefinitionID); err != nil {
		return err
	}
	if !validScope(s.DirectoryScopeID) {
		return invalid(op, "directory scope id", s.DirectoryScopeID)
	}
	return nil
}

func eligibilityRequest(op string, action models.UnifiedRoleScheduleRequestActions, s RoleSchedule, justification string) (models.UnifiedRoleEligibilityScheduleRequestable, error) {
	if err := scheduleRequestFields(op, s); err != nil {
		return nil, err
	}
	body := models.NewUnifiedRoleEligibilityScheduleRequest()
	body.SetAction(&action)
	body.SetPrincipalId(&s.PrincipalID)
	body.SetRoleDefinitionId(&s.RoleDefinitionID)
	body.SetDirectoryScopeId(&s.DirectoryScopeID)
	if justification != "" {
		body.SetJustification(&justification)
	}
	return body, nil
}

func assignmentRequest(op string, action models.UnifiedRoleScheduleRequestActions, s RoleSchedule, justification string) (models.UnifiedRoleAssignmentScheduleRequestable, error) {
	if err := scheduleRequestFields(op, s); err != nil {
		return nil, err
	}
	body := models.NewUnifiedRoleAssignmentScheduleRequest()
	body.SetAction(&action)
	body.SetPrincipalId(&s.PrincipalID)
	body.SetRoleDefinitionId(&s.RoleDefinitionID)
	body.SetDirectoryScopeId(&s.DirectoryScopeID)
	if justification != "" {
		body.SetJustification(&justification)
	}
	return body, nil
}

// restoredScheduleInfo starts now and keeps the recorded expiration: none, or the same
// end time. A schedule with neither leaves expiration to the tenant's PIM policy.
func (c *Client) restoredScheduleInfo(op string, s RoleSchedule) (models.RequestScheduleable, error) {
	now := c.now().UTC()
	info := models.NewRequestSchedule()
	info.SetStartDateTime(&now)
	switch {
	case s.NoExpiration:
		kind := models.NOEXPIRATION_EXPIRATIONPATTERNTYPE
		expiration := models.NewExpirationPattern()
		expiration.SetTypeEscaped(&kind)
		info.SetExpiration(expiration)
	case s.End != nil:
		if !s.End.After(now) {
			return nil, fmt.Errorf("graph %s: %w (ended %s)", op, ErrScheduleEnded, s.End.UTC().Format(time.RFC3339))
		}
		end := s.End.UTC()
		kind := models.AFTERDATETIME_EXPIRATIONPATTERNTYPE
		expiration := models.NewExpirationPattern()
		expiration.SetTypeEscaped(&kind)
		expiration.SetEndDateTime(&end)
		info.SetExpiration(expiration)
	}
	return info, nil
}
