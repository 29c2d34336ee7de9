package tenantsim

import (
	"strconv"
	"strings"
	"time"
)

// An administrator's consents, as Entra ID records them (docs/simulator-fidelity.md, "App
// consents made as an administrator"): the objects, and the directory audit records of the
// activities, initiated by the administrator, that created them.

// ConsentForTenant plays an administrator consenting on behalf of the whole organisation
// (consentType AllPrincipals) at the given time from ip: the grant (scopes added to an
// existing tenant-wide grant of the same client and API), "Consent to application" (target
// the client; ConsentContext.IsAdminConsent and ConsentContext.OnBehalfOfAll True) and "Add
// delegated permission grant" (target the API, the client second;
// DelegatedPermissionGrant.Scope and .ConsentType). It returns the grant's id.
func (s *Sim) ConsentForTenant(adminID, clientID, resourceID, scope string, at time.Time, ip string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	id := grantID(clientID, resourceID, "")
	if _, g := t.grant(id); g != nil {
		g.Scope = strings.TrimSpace(g.Scope + " " + scope)
	} else {
		t.grants = append(t.grants, &PermissionGrant{ID: id, ClientID: clientID, ConsentType: "AllPrincipals", ResourceID: resourceID, Scope: scope})
	}
	upn := ""
	if u := t.user(adminID); u != nil {
		upn = u.UserPrincipalName
	}
	client, resource := t.spNames[strings.ToLower(clientID)].displayName, t.spNames[strings.ToLower(resourceID)].displayName
	t.audit.dirAudit = append(t.audit.dirAudit,
		&DirectoryAudit{ID: "Directory_" + newGUID(), Time: at, Activity: "Consent to application", Category: "ApplicationManagement",
			Service: "Core Directory", InitiatorID: adminID, InitiatorUPN: upn, IP: ip,
			TargetID: clientID, TargetName: client, TargetType: "ServicePrincipal",
			Modified: [][2]string{{"ConsentContext.IsAdminConsent", `"True"`}, {"ConsentContext.IsAppOnly", `"False"`},
				{"ConsentContext.OnBehalfOfAll", `"True"`}, {"ConsentAction.Permissions", `"[] => [[Id: ` + id + `, ClientId: ` + clientID +
					`, PrincipalId: , ResourceId: ` + resourceID + `, ConsentType: AllPrincipals, Scope: ` + scope + `]]; "`}}},
		&DirectoryAudit{ID: "Directory_" + newGUID(), Time: at, Activity: "Add delegated permission grant", Category: "ApplicationManagement",
			Service: "Core Directory", InitiatorID: adminID, InitiatorUPN: upn, IP: ip,
			TargetID: resourceID, TargetName: resource, TargetType: "ServicePrincipal",
			Modified:    [][2]string{{"DelegatedPermissionGrant.Scope", `"` + scope + `"`}, {"DelegatedPermissionGrant.ConsentType", `"AllPrincipals"`}},
			MoreTargets: []AuditTarget{{ID: clientID, Name: client, Type: "ServicePrincipal"}}})
	return id
}

// AssignAppRoleAs plays an administrator granting an app role (a.Created is the time; now
// when zero) from ip: the assignment, and "Add app role assignment to service principal"
// ("Add app role assignment grant to user", "... to group" for those principals), target
// the resource's service principal with AppRole.Id and AppRoleAssignment.CreatedDateTime,
// the principal second. It returns the assignment's id.
func (s *Sim) AssignAppRoleAs(adminID string, a AppRoleAssignment, ip string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	added := t.addAppRoleAssignment(a)
	upn := ""
	if u := t.user(adminID); u != nil {
		upn = u.UserPrincipalName
	}
	activity := map[string]string{"User": "Add app role assignment grant to user", "Group": "Add app role assignment to group"}[added.PrincipalType]
	if activity == "" {
		activity = "Add app role assignment to service principal"
	}
	principalName, _ := t.displayNameOf(added.PrincipalID).(string)
	t.audit.dirAudit = append(t.audit.dirAudit, &DirectoryAudit{ID: "Directory_" + newGUID(), Time: added.Created, Activity: activity,
		Category: map[bool]string{true: "UserManagement", false: "ApplicationManagement"}[added.PrincipalType == "User"],
		Service:  "Core Directory", InitiatorID: adminID, InitiatorUPN: upn, IP: ip,
		TargetID: added.ResourceID, TargetName: t.spNames[strings.ToLower(added.ResourceID)].displayName, TargetType: "ServicePrincipal",
		Modified: [][2]string{{"AppRole.Id", strconv.Quote(added.AppRoleID)},
			{"AppRoleAssignment.CreatedDateTime", strconv.Quote(added.Created.UTC().Format("1/2/2006 3:04:05 PM"))}},
		MoreTargets: []AuditTarget{{ID: added.PrincipalID, Name: principalName, Type: added.PrincipalType}}})
	return added.ID
}
