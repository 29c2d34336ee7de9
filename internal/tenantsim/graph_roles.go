package tenantsim

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

var roleFilterFields = []string{"principalId", "roleDefinitionId"}

var (
	roleDefinitionSpec  = querySpec{entity: "microsoft.graph.unifiedRoleDefinition", paged: true}
	roleAssignmentSpec  = querySpec{entity: "microsoft.graph.unifiedRoleAssignment", filterFields: roleFilterFields, expandable: []string{"roleDefinition", "principal"}, paged: true}
	eligibilityInstSpec = querySpec{entity: "microsoft.graph.unifiedRoleEligibilityScheduleInstance", filterFields: roleFilterFields, expandable: []string{"roleDefinition"}, paged: true}
	assignmentInstSpec  = querySpec{entity: "microsoft.graph.unifiedRoleAssignmentScheduleInstance", filterFields: roleFilterFields, expandable: []string{"roleDefinition"}, paged: true}
	eligibilitySpec     = querySpec{entity: "microsoft.graph.unifiedRoleEligibilitySchedule", filterFields: roleFilterFields, expandable: []string{"roleDefinition"}, paged: true}
	assignmentSchSpec   = querySpec{entity: "microsoft.graph.unifiedRoleAssignmentSchedule", filterFields: roleFilterFields, expandable: []string{"roleDefinition"}, paged: true}
)

const graphTimeLayout = "2006-01-02T15:04:05Z"

func roleDefinitionEntity(d RoleDefinition) map[string]any {
	return map[string]any{
		"id": d.ID, "displayName": d.DisplayName, "description": d.Description, "isBuiltIn": d.IsBuiltIn,
		"isEnabled": true, "templateId": d.TemplateID, "version": nil, "resourceScopes": []string{"/"},
		"rolePermissions": []any{},
	}
}

func (t *tenant) assignmentEntity(a *RoleAssignment, expand map[string]bool) map[string]any {
	m := map[string]any{
		"id": a.ID, "principalId": a.PrincipalID, "roleDefinitionId": a.RoleDefinitionID,
		"directoryScopeId": a.DirectoryScopeID, "appScopeId": nil,
	}
	if expand["roleDefinition"] {
		m["roleDefinition"] = t.roleDefEntityOrNil(a.RoleDefinitionID)
	}
	if expand["principal"] {
		m["principal"] = t.principalEntity(a.PrincipalID)
	}
	return m
}

// principalEntity is an assignment's expanded principal as the documented example of the
// listing shows it (rbacapplication-list-roleassignments, "$filter on role definition ID and
// expand principal"): the directory object with its @odata.type and, for a user, its
// properties including accountEnabled. A principal since deleted comes back null (a guess).
func (t *tenant) principalEntity(id string) any {
	if u := t.user(id); u != nil {
		e := userEntity(u)
		e["@odata.type"] = "#microsoft.graph.user"
		return e
	}
	if g := t.group(id); g != nil {
		return groupEntity(g)
	}
	if slices.ContainsFunc(t.servicePrincipals, func(sp string) bool { return strings.EqualFold(sp, id) }) {
		return map[string]any{"@odata.type": "#microsoft.graph.servicePrincipal", "id": id, "accountEnabled": true}
	}
	return nil
}

func (t *tenant) scheduleEntity(sc *RoleSchedule, expandDef bool) map[string]any {
	m := map[string]any{
		"id": sc.ID, "principalId": sc.PrincipalID, "roleDefinitionId": sc.RoleDefinitionID,
		"directoryScopeId": sc.DirectoryScopeID, "appScopeId": nil, "memberType": sc.MemberType,
		"status": sc.Status, "createdUsing": sc.ID, "createdDateTime": sc.Start.UTC().Format(graphTimeLayout),
		"modifiedDateTime": nil, "scheduleInfo": scheduleInfoEntity(sc.Start, sc.End),
	}
	if sc.AssignmentType != "" {
		m["assignmentType"] = sc.AssignmentType
	}
	if expandDef {
		m["roleDefinition"] = t.roleDefEntityOrNil(sc.RoleDefinitionID)
	}
	return m
}

func scheduleInfoEntity(start, end time.Time) map[string]any {
	exp := map[string]any{"type": "noExpiration", "endDateTime": nil, "duration": nil}
	if !end.IsZero() {
		exp["type"], exp["endDateTime"] = "afterDateTime", end.UTC().Format(graphTimeLayout)
	}
	return map[string]any{"startDateTime": start.UTC().Format(graphTimeLayout), "recurrence": nil, "expiration": exp}
}

func (t *tenant) roleDefEntityOrNil(id string) any {
	if d, ok := t.roleDef(id); ok {
		return roleDefinitionEntity(d)
	}
	return nil
}

// matchesFilter applies a parsed "principalId/roleDefinitionId eq '...'" filter.
func matchesFilter(opts queryOptions, principalID, roleDefinitionID string) bool {
	switch opts.filterField {
	case "principalId":
		return strings.EqualFold(principalID, opts.filterValue)
	case "roleDefinitionId":
		return strings.EqualFold(roleDefinitionID, opts.filterValue)
	}
	return true
}

func (s *Sim) listRoleDefinitions(c *graphCall, _ []string) graphResult {
	opts, bad := parseQuery(c.query, roleDefinitionSpec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []map[string]any
	for _, d := range s.tenant.roleDefs {
		items = append(items, roleDefinitionEntity(d))
	}
	return s.pageItems(c, opts, "roleManagement/directory/roleDefinitions", items)
}

func (s *Sim) getRoleDefinition(c *graphCall, p []string) graphResult {
	if _, bad := parseQuery(c.query, querySpec{entity: roleDefinitionSpec.entity}); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.tenant.roleDef(p[0])
	if !ok {
		return graphNotFound(p[0])
	}
	body := roleDefinitionEntity(d)
	body["@odata.context"] = c.metadataURL("roleManagement/directory/roleDefinitions/$entity")
	return graphOK(body)
}

func (s *Sim) listRoleAssignments(c *graphCall, _ []string) graphResult {
	opts, bad := parseQuery(c.query, roleAssignmentSpec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []map[string]any
	for _, a := range s.tenant.assignments {
		if matchesFilter(opts, a.PrincipalID, a.RoleDefinitionID) {
			items = append(items, s.tenant.assignmentEntity(a, opts.expand))
		}
	}
	return s.pageItems(c, opts, "roleManagement/directory/roleAssignments"+expandSuffix(opts), items)
}

func (s *Sim) getRoleAssignment(c *graphCall, p []string) graphResult {
	opts, bad := parseQuery(c.query, querySpec{entity: roleAssignmentSpec.entity, expandable: roleAssignmentSpec.expandable})
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.tenant.assignmentIndex(p[0])
	if i < 0 {
		return graphNotFound(p[0])
	}
	body := s.tenant.assignmentEntity(s.tenant.assignments[i], opts.expand)
	body["@odata.context"] = c.metadataURL("roleManagement/directory/roleAssignments" + expandSuffix(opts) + "/$entity")
	return graphOK(body)
}

// createRoleAssignment is POST roleAssignments: an active direct assignment.
func (s *Sim) createRoleAssignment(c *graphCall, _ []string) graphResult {
	var in struct {
		PrincipalID      string `json:"principalId"`
		RoleDefinitionID string `json:"roleDefinitionId"`
		DirectoryScopeID string `json:"directoryScopeId"`
	}
	if res, ok := decodeJSONBody(c.body, &in); !ok {
		return res
	}
	if in.PrincipalID == "" || in.RoleDefinitionID == "" || in.DirectoryScopeID == "" {
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "principalId, roleDefinitionId and directoryScopeId are required.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if res, ok := t.checkPrincipalAndRole(in.PrincipalID, in.RoleDefinitionID); !ok {
		return res
	}
	for _, a := range t.assignments {
		if strings.EqualFold(a.PrincipalID, in.PrincipalID) && strings.EqualFold(a.RoleDefinitionID, in.RoleDefinitionID) && a.DirectoryScopeID == in.DirectoryScopeID {
			return graphErr(http.StatusBadRequest, "Request_BadRequest", "A conflicting object with one or more of the specified property values is present in the directory.")
		}
	}
	a := &RoleAssignment{ID: newGUID(), PrincipalID: in.PrincipalID, RoleDefinitionID: in.RoleDefinitionID, DirectoryScopeID: in.DirectoryScopeID}
	t.assignments = append(t.assignments, a)
	body := t.assignmentEntity(a, nil)
	body["@odata.context"] = c.metadataURL("roleManagement/directory/roleAssignments/$entity")
	return graphCreated(body)
}

// deleteRoleAssignment removes an active assignment; one that PIM created takes its
// active schedule with it, so the two lists stay consistent.
func (s *Sim) deleteRoleAssignment(_ *graphCall, p []string) graphResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	i := t.assignmentIndex(p[0])
	if i < 0 {
		return graphNotFound(p[0])
	}
	a := t.assignments[i]
	t.assignments = slices.Delete(t.assignments, i, i+1)
	if a.ScheduleID != "" {
		t.activePIM = slices.DeleteFunc(t.activePIM, func(sc *RoleSchedule) bool { return sc.ID == a.ScheduleID })
	}
	return graphNoContent()
}

func (s *Sim) listEligibilitySchedules(c *graphCall, _ []string) graphResult {
	return s.listSchedules(c, eligibilitySpec, "roleManagement/directory/roleEligibilitySchedules", func(t *tenant) []*RoleSchedule { return t.eligible })
}

func (s *Sim) listAssignmentSchedules(c *graphCall, _ []string) graphResult {
	return s.listSchedules(c, assignmentSchSpec, "roleManagement/directory/roleAssignmentSchedules", func(t *tenant) []*RoleSchedule { return t.activePIM })
}

// The instances collections list the same grants as the schedules here (the simulator
// keeps no recurrence): what matters is that they exist and share the licence answer.
func (s *Sim) listEligibilityInstances(c *graphCall, _ []string) graphResult {
	return s.listSchedules(c, eligibilityInstSpec, "roleManagement/directory/roleEligibilityScheduleInstances", func(t *tenant) []*RoleSchedule { return t.eligible })
}

func (s *Sim) listAssignmentInstances(c *graphCall, _ []string) graphResult {
	return s.listSchedules(c, assignmentInstSpec, "roleManagement/directory/roleAssignmentScheduleInstances", func(t *tenant) []*RoleSchedule { return t.activePIM })
}

// pimUnlicensedResult is Graph's answer to any PIM schedule call in a tenant without
// Entra ID P2 / ID Governance.
func pimUnlicensedResult() graphResult {
	return graphErr(http.StatusBadRequest, "AadPremiumLicenseRequired", "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license.")
}

func (s *Sim) listSchedules(c *graphCall, spec querySpec, context string, list func(*tenant) []*RoleSchedule) graphResult {
	opts, bad := parseQuery(c.query, spec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if t.pimUnlicensed {
		return pimUnlicensedResult()
	}
	var items []map[string]any
	for _, sc := range list(t) {
		if matchesFilter(opts, sc.PrincipalID, sc.RoleDefinitionID) {
			items = append(items, t.scheduleEntity(sc, opts.expand["roleDefinition"]))
		}
	}
	// A member of a role-assignable group holds the group's PIM grants too; filtered on
	// the member, PIM lists them under the member's id with memberType "Group".
	if opts.filterField == "principalId" && t.user(opts.filterValue) != nil {
		userID := t.user(opts.filterValue).ID
		for _, sc := range list(t) {
			g := t.group(sc.PrincipalID)
			if g == nil || !slices.ContainsFunc(t.members[g.ID], func(m string) bool { return strings.EqualFold(m, userID) }) {
				continue
			}
			inherited := *sc
			inherited.PrincipalID, inherited.MemberType = userID, "Group"
			items = append(items, t.scheduleEntity(&inherited, opts.expand["roleDefinition"]))
		}
	}
	return s.pageItems(c, opts, context+expandSuffix(opts), items)
}

func expandSuffix(opts queryOptions) string {
	var parts []string
	for _, nav := range []string{"roleDefinition", "principal"} {
		if opts.expand[nav] {
			parts = append(parts, nav+"()")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ",") + ")"
}

// checkPrincipalAndRole validates the two ids of a new assignment. Held under s.mu.
func (t *tenant) checkPrincipalAndRole(principalID, roleDefinitionID string) (graphResult, bool) {
	if _, ok := t.roleDef(roleDefinitionID); !ok {
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "The role definition '"+roleDefinitionID+"' does not exist."), false
	}
	if !t.principalExists(principalID) {
		return graphNotFound(principalID), false
	}
	return graphResult{}, true
}
