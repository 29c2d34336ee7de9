package tenantsim

import (
	"net/http"
	"net/url"
	"strings"
)

// graphCall is one Graph request (or $batch item) with its body already decompressed.
type graphCall struct {
	method string
	path   string // below /v1.0, e.g. "/users/abc"
	query  url.Values
	body   []byte
	base   string // "http://host:port", for absolute links
	header http.Header
	// prefix is the version segment the call came under: graphPrefix, or graphBetaPrefix
	// for the beta endpoints.
	prefix string
}

// beta reports a call to the beta endpoint.
func (c *graphCall) beta() bool { return c.prefix == graphBetaPrefix }

// root is the absolute version root, for links.
func (c *graphCall) root() string {
	if c.prefix == "" {
		return c.base + graphPrefix
	}
	return c.base + c.prefix
}

// metadataURL builds an @odata.context value.
func (c *graphCall) metadataURL(fragment string) string {
	return c.root() + "/$metadata#" + fragment
}

type graphHandler func(c *graphCall, params []string) graphResult

type graphRoute struct {
	method  string
	pattern []string // "*" matches one segment and is passed to the handler
	handle  graphHandler
}

func (s *Sim) graphRoutes() []graphRoute {
	r := func(method, pattern string, h graphHandler) graphRoute {
		return graphRoute{method: method, pattern: strings.Split(pattern, "/"), handle: h}
	}
	const rm = "roleManagement/directory/"
	routes := []graphRoute{
		r(http.MethodGet, "users", s.listUsers),
		r(http.MethodGet, "users/*", s.getUser),
		r(http.MethodPatch, "users/*", s.patchUser),
		r(http.MethodPost, "users/*/revokeSignInSessions", s.revokeSessions),
		r(http.MethodGet, "users/*/authentication/methods", s.listAuthMethods),
		r(http.MethodGet, "users/*/memberOf", s.listMemberOf),
		r(http.MethodGet, "users/*/memberOf/graph.group", s.listMemberOfGroups),
		r(http.MethodGet, "users/*/memberOf/microsoft.graph.group", s.listMemberOfGroups),
		r(http.MethodGet, "users/*/registeredDevices", s.listUserDevices(false)),
		r(http.MethodGet, "users/*/registeredDevices/graph.device", s.listUserDevices(false)),
		r(http.MethodGet, "users/*/registeredDevices/microsoft.graph.device", s.listUserDevices(false)),
		r(http.MethodGet, "users/*/ownedDevices", s.listUserDevices(true)),
		r(http.MethodGet, "users/*/ownedDevices/graph.device", s.listUserDevices(true)),
		r(http.MethodGet, "users/*/ownedDevices/microsoft.graph.device", s.listUserDevices(true)),
		r(http.MethodGet, "devices/*", s.getDevice),
		r(http.MethodPatch, "devices/*", s.patchDevice),

		r(http.MethodGet, rm+"roleDefinitions", s.listRoleDefinitions),
		r(http.MethodGet, rm+"roleDefinitions/*", s.getRoleDefinition),
		r(http.MethodGet, rm+"roleAssignments", s.listRoleAssignments),
		r(http.MethodPost, rm+"roleAssignments", s.createRoleAssignment),
		r(http.MethodGet, rm+"roleAssignments/*", s.getRoleAssignment),
		r(http.MethodDelete, rm+"roleAssignments/*", s.deleteRoleAssignment),
		r(http.MethodGet, rm+"roleEligibilitySchedules", s.listEligibilitySchedules),
		r(http.MethodGet, rm+"roleAssignmentSchedules", s.listAssignmentSchedules),
		r(http.MethodGet, rm+"roleEligibilityScheduleInstances", s.listEligibilityInstances),
		r(http.MethodGet, rm+"roleAssignmentScheduleInstances", s.listAssignmentInstances),
		r(http.MethodPost, rm+"roleEligibilityScheduleRequests", s.eligibilityScheduleRequest),
		r(http.MethodPost, rm+"roleAssignmentScheduleRequests", s.assignmentScheduleRequest),

		r(http.MethodGet, "auditLogs/signIns", s.listSignIns),
		r(http.MethodGet, "auditLogs/directoryAudits", s.listDirectoryAudits),
		r(http.MethodGet, "admin/exchange/tracing/messageTraces", s.listMessageTraces),

		r(http.MethodGet, "identityGovernance/privilegedAccess/group/eligibilitySchedules", s.listGroupEligibilitySchedules),
		r(http.MethodPost, "identityGovernance/privilegedAccess/group/eligibilityScheduleRequests", s.groupEligibilityRequest),

		r(http.MethodGet, "oauth2PermissionGrants", s.listGrants),
		r(http.MethodPost, "oauth2PermissionGrants", s.createGrant),
		r(http.MethodGet, "oauth2PermissionGrants/*", s.getGrant),
		r(http.MethodPatch, "oauth2PermissionGrants/*", s.patchGrant),
		r(http.MethodDelete, "oauth2PermissionGrants/*", s.deleteGrant),
		r(http.MethodGet, "servicePrincipals/*", s.getServicePrincipal),
		r(http.MethodGet, "servicePrincipals/*/appRoleAssignments", s.listAppRoleAssignments),
		r(http.MethodGet, "servicePrincipals/*/appRoleAssignedTo", s.listAppRoleAssignedTo),
		r(http.MethodPost, "servicePrincipals/*/appRoleAssignedTo", s.createAppRoleAssignedTo),
		r(http.MethodDelete, "servicePrincipals/*/appRoleAssignedTo/*", s.deleteAppRoleAssignedTo),

		r(http.MethodGet, "groups/*", s.getGroup),
		r(http.MethodGet, "groups/*/members", s.listGroupMembers),
		r(http.MethodGet, "groups/*/members/graph.user", s.listGroupMembers),
		r(http.MethodGet, "groups/*/members/microsoft.graph.user", s.listGroupMembers),
		r(http.MethodPost, "groups/*/members/$ref", s.addGroupMember),
		r(http.MethodDelete, "groups/*/members/$ref", s.removeGroupMemberByQuery),
		r(http.MethodDelete, "groups/*/members/*/$ref", s.removeGroupMember),
	}
	for segment := range methodRoutes {
		routes = append(routes, r(http.MethodDelete, "users/*/authentication/"+segment+"/*", s.deleteAuthMethod(segment)))
	}
	return routes
}

// serveGraph answers one Graph request that has passed authentication and faults.
func (s *Sim) serveGraph(w http.ResponseWriter, r *http.Request, body []byte) {
	c := &graphCall{
		method: r.Method,
		path:   strings.TrimPrefix(r.URL.Path, graphPrefix),
		query:  r.URL.Query(),
		body:   body,
		base:   baseOf(r),
		header: r.Header,
		prefix: graphPrefix,
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, graphBetaPrefix); ok {
		c.path, c.prefix = rest, graphBetaPrefix
	}
	var res graphResult
	switch {
	case c.beta():
		res = s.routeGraphBeta(c)
	case strings.EqualFold(c.path, "/$batch"):
		res = s.serveBatch(c)
	default:
		res = s.routeGraph(c)
	}
	res.write(w, r.Header)
}

// routeGraph dispatches a call to its handler: 405 for a known path with another method,
// 400 like Graph for an unknown segment.
func (s *Sim) routeGraph(c *graphCall) graphResult {
	segs := strings.Split(strings.Trim(c.path, "/"), "/")
	pathKnown := false
	for _, rt := range s.graphRoutes() {
		params, ok := matchRoute(rt.pattern, segs)
		if !ok {
			continue
		}
		pathKnown = true
		if rt.method == c.method {
			if res, denied := s.deniedByRoles(c, rt.method, rt.pattern); denied {
				return res
			}
			return rt.handle(c, params)
		}
	}
	if pathKnown {
		return graphErr(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
	}
	return graphBadRequest("Resource not found for the segment '" + segs[len(segs)-1] + "'.")
}

// routeGraphBeta answers the beta endpoints Tourniquet reads: GET auditLogs/signIns (with
// the beta properties: signInEventTypes, sessionId, uniqueTokenIdentifier). Everything else
// under /beta is outside the simulator, said in Graph's words.
func (s *Sim) routeGraphBeta(c *graphCall) graphResult {
	segs := strings.Split(strings.Trim(c.path, "/"), "/")
	pattern := []string{"auditLogs", "signIns"}
	if _, ok := matchRoute(pattern, segs); !ok {
		return graphBadRequest("Resource not found for the segment '" + segs[len(segs)-1] + "' (the tenant simulator serves only auditLogs/signIns under /beta).")
	}
	if c.method != http.MethodGet {
		return graphErr(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
	}
	if res, denied := s.deniedByRoles(c, c.method, pattern); denied {
		return res
	}
	return s.listSignIns(c, nil)
}

func matchRoute(pattern, segs []string) ([]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params []string
	for i, p := range pattern {
		switch {
		case p == "*" && segs[i] != "":
			params = append(params, segs[i])
		case strings.EqualFold(p, segs[i]):
		default:
			return nil, false
		}
	}
	return params, true
}

// baseOf is the absolute root the client used, for links.
func baseOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
