package tenantsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Microsoft Graph refuses a call whose token lacks every application permission that allows
// it: 403 Authorization_RequestDenied "Insufficient privileges to complete the operation."
// The simulator plays that once a test has set the identity's roles (SetIdentityRoles): a
// deployment that granted less. Until then every call is allowed, as a fully configured
// deployment's would be. Each entry lists the permissions Microsoft's page of the call names,
// least privileged first (docs/permissions.md gives the pages); calls not listed are allowed.
type roleRule struct {
	method string
	path   string // a route pattern of graphRoutes
	field  string // for PATCH /users/*: the property the rule is about
	any    []string
}

var userReadRoles = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}

var graphRoleRules = []roleRule{
	{http.MethodGet, "users", "", []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}},
	{http.MethodGet, "users/*", "", []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}},
	{http.MethodPatch, "users/*", "passwordProfile", []string{"User-PasswordProfile.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}},
	{http.MethodPatch, "users/*", "accountEnabled", []string{"User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}},
	{http.MethodPost, "users/*/revokeSignInSessions", "", []string{"User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}},
	{http.MethodGet, "auditLogs/signIns", "", []string{"AuditLog.Read.All"}},
	{http.MethodGet, "auditLogs/directoryAudits", "", []string{"AuditLog.Read.All"}},
	{http.MethodGet, "admin/exchange/tracing/messageTraces", "", []string{"ExchangeMessageTrace.Read.All"}},
	{http.MethodGet, "users/*/authentication/methods", "", []string{"UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"}},
	{http.MethodGet, "oauth2PermissionGrants", "", []string{"DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}},
	{http.MethodDelete, "oauth2PermissionGrants/*", "", []string{"DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All"}},
	// The serviceprincipal-list-approleassignments, -list-approleassignedto,
	// -post-approleassignedto and -delete-approleassignedto pages.
	{http.MethodGet, "servicePrincipals/*/appRoleAssignments", "", []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}},
	{http.MethodGet, "servicePrincipals/*/appRoleAssignedTo", "", []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}},
	{http.MethodPost, "servicePrincipals/*/appRoleAssignedTo", "", []string{"AppRoleAssignment.ReadWrite.All"}},
	{http.MethodDelete, "servicePrincipals/*/appRoleAssignedTo/*", "", []string{"AppRoleAssignment.ReadWrite.All"}},
	// The user-list-registereddevices and -owneddevices pages name no application
	// permission ("Not supported"); the simulator asks what reads the user (a guess: their
	// delegated lists) and, for the devices' properties, what reads devices (deviceReadRoles).
	// The device-get and device-update pages: Device.Read.All / Device.ReadWrite.All.
	{http.MethodGet, "users/*/registeredDevices/graph.device", "", userReadRoles},
	{http.MethodGet, "users/*/registeredDevices/microsoft.graph.device", "", userReadRoles},
	{http.MethodGet, "users/*/registeredDevices", "", userReadRoles},
	{http.MethodGet, "users/*/ownedDevices/graph.device", "", userReadRoles},
	{http.MethodGet, "users/*/ownedDevices/microsoft.graph.device", "", userReadRoles},
	{http.MethodGet, "users/*/ownedDevices", "", userReadRoles},
	{http.MethodGet, "devices/*", "", []string{"Device.Read.All", "Device.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}},
	{http.MethodPatch, "devices/*", "", []string{"Device.ReadWrite.All", "Directory.ReadWrite.All"}},
}

// deniedByRoles answers the 403 Graph gives a call the identity's roles do not allow, or ok.
func (s *Sim) deniedByRoles(c *graphCall, method string, pattern []string) (graphResult, bool) {
	s.mu.Lock()
	roles, set := s.roles["graph"]
	s.mu.Unlock()
	if !set {
		return graphResult{}, false
	}
	joined := strings.Join(pattern, "/")
	for _, rule := range graphRoleRules {
		if rule.method != method || rule.path != joined {
			continue
		}
		if rule.field != "" {
			var patch map[string]json.RawMessage
			if json.Unmarshal(c.body, &patch) != nil {
				continue
			}
			if _, ok := patch[rule.field]; !ok {
				continue
			}
		}
		if !slices.ContainsFunc(rule.any, func(r string) bool { return slices.Contains(roles, r) }) {
			return graphErr(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."), true
		}
	}
	return graphResult{}, false
}
