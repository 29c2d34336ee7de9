package tenantsim

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scheduleRequest is the body of a roleEligibilityScheduleRequest or
// roleAssignmentScheduleRequest.
type scheduleRequest struct {
	Action           string `json:"action"`
	PrincipalID      string `json:"principalId"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	DirectoryScopeID string `json:"directoryScopeId"`
	Justification    string `json:"justification"`
	IsValidationOnly bool   `json:"isValidationOnly"`
	ScheduleInfo     *struct {
		StartDateTime *string `json:"startDateTime"`
		Expiration    *struct {
			Type        string  `json:"type"`
			EndDateTime *string `json:"endDateTime"`
			Duration    *string `json:"duration"`
		} `json:"expiration"`
	} `json:"scheduleInfo"`
}

// pimKind distinguishes the two PIM request collections.
type pimKind struct {
	collection string // "roleEligibilityScheduleRequests" or "roleAssignmentScheduleRequests"
	active     bool
}

var (
	eligibilityRequests = pimKind{collection: "roleEligibilityScheduleRequests"}
	assignmentRequests  = pimKind{collection: "roleAssignmentScheduleRequests", active: true}
)

func (s *Sim) eligibilityScheduleRequest(c *graphCall, _ []string) graphResult {
	return s.scheduleRequest(c, eligibilityRequests)
}

func (s *Sim) assignmentScheduleRequest(c *graphCall, _ []string) graphResult {
	return s.scheduleRequest(c, assignmentRequests)
}

// scheduleRequest implements adminAssign and adminRemove. A schedule matches on
// principalId + roleDefinitionId + directoryScopeId.
func (s *Sim) scheduleRequest(c *graphCall, kind pimKind) graphResult {
	var in scheduleRequest
	if res, ok := decodeJSONBody(c.body, &in); !ok {
		return res
	}
	if in.PrincipalID == "" || in.RoleDefinitionID == "" || in.DirectoryScopeID == "" {
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "principalId, roleDefinitionId and directoryScopeId are required.")
	}
	start, end, res, ok := scheduleWindow(in)
	if !ok {
		return res
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if t.pimUnlicensed {
		return pimUnlicensedResult()
	}
	list := &t.eligible
	if kind.active {
		list = &t.activePIM
	}
	idx, existing := findSchedule(*list, in.PrincipalID, in.RoleDefinitionID, in.DirectoryScopeID)

	var status, target string
	switch {
	case strings.EqualFold(in.Action, "adminRemove"):
		if existing == nil {
			return graphErr(http.StatusBadRequest, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
		}
		status, target = "Revoked", existing.ID
		if !in.IsValidationOnly {
			*list = slices.Delete(*list, idx, idx+1)
			if kind.active {
				t.removeAssignment(existing.AssignmentID)
			}
		}
	case strings.EqualFold(in.Action, "adminAssign"):
		if res, ok := t.checkPrincipalAndRole(in.PrincipalID, in.RoleDefinitionID); !ok {
			return res
		}
		if existing != nil || (kind.active && t.hasAssignment(in.PrincipalID, in.RoleDefinitionID, in.DirectoryScopeID)) {
			return graphErr(http.StatusBadRequest, "RoleAssignmentExists", "The Role assignment already exists.")
		}
		status = "Provisioned"
		if !in.IsValidationOnly {
			var sc *RoleSchedule
			if kind.active {
				sc = t.newActiveSchedule(in.PrincipalID, in.RoleDefinitionID, in.DirectoryScopeID, start, end)
			} else {
				sc = t.newEligibleSchedule(in.PrincipalID, in.RoleDefinitionID, in.DirectoryScopeID, start, end)
			}
			target = sc.ID
		}
	default:
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "The tenant simulator supports only the actions adminAssign and adminRemove, not '"+in.Action+"'.")
	}

	now := time.Now().UTC().Format(graphTimeLayout)
	return graphCreated(map[string]any{
		"@odata.context":    c.metadataURL("roleManagement/directory/" + kind.collection + "/$entity"),
		"id":                newGUID(),
		"status":            status,
		"action":            in.Action,
		"principalId":       in.PrincipalID,
		"roleDefinitionId":  in.RoleDefinitionID,
		"directoryScopeId":  in.DirectoryScopeID,
		"appScopeId":        nil,
		"isValidationOnly":  in.IsValidationOnly,
		"targetScheduleId":  nullable(target),
		"justification":     nullable(in.Justification),
		"createdDateTime":   now,
		"completedDateTime": now,
		"approvalId":        nil,
		"customData":        nil,
		"createdBy":         map[string]any{"application": nil, "device": nil, "user": nil},
		"scheduleInfo":      scheduleInfoEntity(start, end),
		"ticketInfo":        map[string]any{"ticketNumber": nil, "ticketSystem": nil},
	})
}

func (t *tenant) hasAssignment(principalID, roleDefinitionID, scope string) bool {
	return slices.ContainsFunc(t.assignments, func(a *RoleAssignment) bool {
		return strings.EqualFold(a.PrincipalID, principalID) && strings.EqualFold(a.RoleDefinitionID, roleDefinitionID) && a.DirectoryScopeID == scope
	})
}

var isoDurationPattern = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// scheduleWindow reads scheduleInfo: start defaults to now, expiration to none.
func scheduleWindow(in scheduleRequest) (start, end time.Time, res graphResult, ok bool) {
	start = time.Now().UTC()
	bad := func(msg string) (time.Time, time.Time, graphResult, bool) {
		return time.Time{}, time.Time{}, graphErr(http.StatusBadRequest, "Request_BadRequest", msg), false
	}
	if in.ScheduleInfo == nil {
		return start, time.Time{}, graphResult{}, true
	}
	if in.ScheduleInfo.StartDateTime != nil {
		t, err := time.Parse(time.RFC3339, *in.ScheduleInfo.StartDateTime)
		if err != nil {
			return bad("scheduleInfo.startDateTime is not a valid date and time.")
		}
		start = t.UTC()
	}
	exp := in.ScheduleInfo.Expiration
	if exp == nil {
		return start, time.Time{}, graphResult{}, true
	}
	switch {
	case exp.Type == "" || strings.EqualFold(exp.Type, "noExpiration"):
		return start, time.Time{}, graphResult{}, true
	case strings.EqualFold(exp.Type, "afterDateTime") && exp.EndDateTime != nil:
		t, err := time.Parse(time.RFC3339, *exp.EndDateTime)
		if err != nil {
			return bad("scheduleInfo.expiration.endDateTime is not a valid date and time.")
		}
		return start, t.UTC(), graphResult{}, true
	case strings.EqualFold(exp.Type, "afterDuration") && exp.Duration != nil:
		m := isoDurationPattern.FindStringSubmatch(*exp.Duration)
		if m == nil || *exp.Duration == "P" || *exp.Duration == "PT" {
			return bad("scheduleInfo.expiration.duration is not a valid ISO 8601 duration.")
		}
		d := time.Duration(0)
		for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
			n, _ := strconv.Atoi(m[i+1]) // empty groups read as 0
			d += time.Duration(n) * unit
		}
		return start, start.Add(d), graphResult{}, true
	}
	return bad("scheduleInfo.expiration is not valid.")
}
