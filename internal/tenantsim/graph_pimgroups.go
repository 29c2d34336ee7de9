package tenantsim

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// GroupEligibility is a PIM for Groups eligible membership (accessId member).
type GroupEligibility struct {
	ID          string
	PrincipalID string
	GroupID     string
	Start       time.Time
	End         time.Time // zero: noExpiration
}

var groupEligibilitySpec = querySpec{entity: "microsoft.graph.privilegedAccessGroupEligibilitySchedule", filterFields: []string{"principalId", "groupId"}, paged: true}

// AddGroupEligibleMember makes the user eligible for membership of the group (PIM for
// Groups), without expiration.
func (s *Sim) AddGroupEligibleMember(groupID, userID string) (scheduleID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &GroupEligibility{ID: newGUID(), PrincipalID: userID, GroupID: groupID, Start: time.Now().UTC()}
	s.tenant.groupEligible = append(s.tenant.groupEligible, e)
	return e.ID
}

// GroupEligibleMembers lists the principals eligible for membership of the group.
func (s *Sim) GroupEligibleMembers(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.tenant.groupEligible {
		if strings.EqualFold(e.GroupID, groupID) {
			out = append(out, e.PrincipalID)
		}
	}
	return out
}

func groupEligibilityEntity(e *GroupEligibility) map[string]any {
	return map[string]any{
		"id": e.ID, "principalId": e.PrincipalID, "groupId": e.GroupID, "accessId": "member", "memberType": "direct",
		"status": "Provisioned", "createdUsing": e.ID, "createdDateTime": e.Start.UTC().Format(graphTimeLayout),
		"modifiedDateTime": nil, "scheduleInfo": scheduleInfoEntity(e.Start, e.End),
	}
}

// listGroupEligibilitySchedules is GET identityGovernance/privilegedAccess/group/
// eligibilitySchedules; Graph requires a filter on principalId or groupId.
func (s *Sim) listGroupEligibilitySchedules(c *graphCall, _ []string) graphResult {
	opts, bad := parseQuery(c.query, groupEligibilitySpec)
	if bad != nil {
		return *bad
	}
	if opts.filterField == "" {
		return graphBadRequest("A filter on principalId or groupId is required.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenant.pimUnlicensed {
		return pimUnlicensedResult()
	}
	var items []map[string]any
	for _, e := range s.tenant.groupEligible {
		value := e.PrincipalID
		if opts.filterField == "groupId" {
			value = e.GroupID
		}
		if strings.EqualFold(value, opts.filterValue) {
			items = append(items, groupEligibilityEntity(e))
		}
	}
	return s.pageItems(c, opts, "identityGovernance/privilegedAccess/group/eligibilitySchedules", items)
}

// groupEligibilityRequest implements adminAssign and adminRemove of eligible membership.
func (s *Sim) groupEligibilityRequest(c *graphCall, _ []string) graphResult {
	var in struct {
		scheduleRequest
		AccessID string `json:"accessId"`
		GroupID  string `json:"groupId"`
	}
	if res, ok := decodeJSONBody(c.body, &in); !ok {
		return res
	}
	if in.PrincipalID == "" || in.GroupID == "" || !strings.EqualFold(in.AccessID, "member") {
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "principalId, groupId and accessId 'member' are required by the tenant simulator.")
	}
	start, end, res, ok := scheduleWindow(in.scheduleRequest)
	if !ok {
		return res
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if t.pimUnlicensed {
		return pimUnlicensedResult()
	}
	idx := slices.IndexFunc(t.groupEligible, func(e *GroupEligibility) bool {
		return strings.EqualFold(e.PrincipalID, in.PrincipalID) && strings.EqualFold(e.GroupID, in.GroupID)
	})
	var status, target string
	switch {
	case strings.EqualFold(in.Action, "adminRemove"):
		if idx < 0 {
			return graphErr(http.StatusBadRequest, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
		}
		status, target = "Revoked", t.groupEligible[idx].ID
		t.groupEligible = slices.Delete(t.groupEligible, idx, idx+1)
	case strings.EqualFold(in.Action, "adminAssign"):
		if t.group(in.GroupID) == nil || t.user(in.PrincipalID) == nil {
			return graphNotFound(in.GroupID)
		}
		if idx >= 0 {
			return graphErr(http.StatusBadRequest, "RoleAssignmentExists", "The Role assignment already exists.")
		}
		e := &GroupEligibility{ID: newGUID(), PrincipalID: in.PrincipalID, GroupID: in.GroupID, Start: start, End: end}
		t.groupEligible = append(t.groupEligible, e)
		status, target = "Provisioned", e.ID
	default:
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "The tenant simulator supports only the actions adminAssign and adminRemove, not '"+in.Action+"'.")
	}
	now := time.Now().UTC().Format(graphTimeLayout)
	return graphCreated(map[string]any{
		"@odata.context": c.metadataURL("identityGovernance/privilegedAccess/group/eligibilityScheduleRequests/$entity"),
		"id":             newGUID(), "status": status, "action": in.Action, "principalId": in.PrincipalID,
		"groupId": in.GroupID, "accessId": "member", "isValidationOnly": false, "targetScheduleId": target,
		"justification": nullable(in.Justification), "createdDateTime": now, "completedDateTime": now,
		"approvalId": nil, "customData": nil, "scheduleInfo": scheduleInfoEntity(start, end),
	})
}
