package tenantsim

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"
)

// AppRoleAssignment is an app role of a resource's service principal granted to a user,
// group or service principal (appRoleAssignment). Granted to a client's service principal it
// is an application permission.
type AppRoleAssignment struct {
	ID            string // generated when empty (43 base64url characters, as Graph's look)
	AppRoleID     string
	PrincipalID   string
	PrincipalType string // "User", "Group" or "ServicePrincipal"; derived when empty
	ResourceID    string // the resource's service principal
	Created       time.Time
}

// appRoleAssignmentID is a 43-character base64url id like Graph's (e.g. the ids on the
// serviceprincipal-list-approleassignedto page); the way Graph derives them is not
// documented, so the simulator draws them at random.
func appRoleAssignmentID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AddAppRoleAssignment adds an app role assignment and returns its id.
func (s *Sim) AddAppRoleAssignment(a AppRoleAssignment) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenant.addAppRoleAssignment(a).ID
}

func (t *tenant) addAppRoleAssignment(a AppRoleAssignment) *AppRoleAssignment {
	if a.ID == "" {
		a.ID = appRoleAssignmentID()
	}
	if a.PrincipalType == "" {
		a.PrincipalType = t.principalType(a.PrincipalID)
	}
	if a.Created.IsZero() {
		a.Created = time.Now().UTC()
	}
	t.appRoles = append(t.appRoles, &a)
	return &a
}

// AppRoleAssignments returns every app role assignment of the tenant.
func (s *Sim) AppRoleAssignments() []AppRoleAssignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AppRoleAssignment, 0, len(s.tenant.appRoles))
	for _, a := range s.tenant.appRoles {
		out = append(out, *a)
	}
	return out
}

func (t *tenant) principalType(id string) string {
	switch {
	case t.user(id) != nil:
		return "User"
	case t.group(id) != nil:
		return "Group"
	}
	return "ServicePrincipal"
}

func (t *tenant) isServicePrincipal(id string) bool {
	return slices.ContainsFunc(t.servicePrincipals, func(sp string) bool { return strings.EqualFold(sp, id) })
}

func (t *tenant) displayNameOf(id string) any {
	if u := t.user(id); u != nil {
		return nullable(u.DisplayName)
	}
	if g := t.group(id); g != nil {
		return nullable(g.DisplayName)
	}
	return nullable(t.spNames[strings.ToLower(id)].displayName)
}

func (t *tenant) appRoleAssignmentEntity(a *AppRoleAssignment) map[string]any {
	return map[string]any{
		"id": a.ID, "deletedDateTime": nil, "appRoleId": a.AppRoleID, "createdDateTime": a.Created.UTC().Format(odataTime),
		"principalDisplayName": t.displayNameOf(a.PrincipalID), "principalId": a.PrincipalID, "principalType": a.PrincipalType,
		"resourceDisplayName": t.displayNameOf(a.ResourceID), "resourceId": a.ResourceID,
	}
}

var appRoleAssignmentSpec = querySpec{entity: "microsoft.graph.appRoleAssignment", paged: true}

// listAppRoleAssignments is GET /servicePrincipals/{id}/appRoleAssignments (held by the
// service principal) and listAppRoleAssignedTo GET /servicePrincipals/{id}/appRoleAssignedTo
// (granted on it as the resource).
func (s *Sim) listAppRoleAssignments(c *graphCall, p []string) graphResult {
	return s.listAppRoles(c, p[0], "appRoleAssignments", func(a *AppRoleAssignment) bool { return strings.EqualFold(a.PrincipalID, p[0]) })
}

func (s *Sim) listAppRoleAssignedTo(c *graphCall, p []string) graphResult {
	return s.listAppRoles(c, p[0], "appRoleAssignedTo", func(a *AppRoleAssignment) bool { return strings.EqualFold(a.ResourceID, p[0]) })
}

func (s *Sim) listAppRoles(c *graphCall, sp, segment string, match func(*AppRoleAssignment) bool) graphResult {
	opts, bad := parseQuery(c.query, appRoleAssignmentSpec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if !t.isServicePrincipal(sp) {
		return graphNotFound(sp)
	}
	items := []map[string]any{}
	for _, a := range t.appRoles {
		if match(a) {
			items = append(items, t.appRoleAssignmentEntity(a))
		}
	}
	return s.pageItems(c, opts, "servicePrincipals('"+sp+"')/"+segment, items)
}

// createAppRoleAssignedTo is POST /servicePrincipals/{id}/appRoleAssignedTo: 201 with the
// assignment; 400 when the principal already holds the role ("Permission being assigned
// already exists on the object", as Graph and the AzureAD module answer).
func (s *Sim) createAppRoleAssignedTo(c *graphCall, p []string) graphResult {
	var in struct {
		AppRoleID   string `json:"appRoleId"`
		PrincipalID string `json:"principalId"`
		ResourceID  string `json:"resourceId"`
	}
	if res, ok := decodeJSONBody(c.body, &in); !ok {
		return res
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	switch {
	case !t.isServicePrincipal(p[0]):
		return graphNotFound(p[0])
	case !strings.EqualFold(in.ResourceID, p[0]):
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'resourceId' of resource 'AppRoleAssignment'.")
	case !t.principalExists(in.PrincipalID):
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'principalId' of resource 'AppRoleAssignment'.")
	case !validGUID(in.AppRoleID):
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'appRoleId' of resource 'AppRoleAssignment'.")
	}
	if slices.ContainsFunc(t.appRoles, func(a *AppRoleAssignment) bool {
		return strings.EqualFold(a.PrincipalID, in.PrincipalID) && strings.EqualFold(a.ResourceID, in.ResourceID) && strings.EqualFold(a.AppRoleID, in.AppRoleID)
	}) {
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Permission being assigned already exists on the object")
	}
	a := t.addAppRoleAssignment(AppRoleAssignment{AppRoleID: strings.ToLower(in.AppRoleID), PrincipalID: in.PrincipalID, ResourceID: p[0]})
	body := t.appRoleAssignmentEntity(a)
	body["@odata.context"] = c.metadataURL("servicePrincipals('" + p[0] + "')/appRoleAssignedTo/$entity")
	return graphCreated(body)
}

// deleteAppRoleAssignedTo is DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}.
func (s *Sim) deleteAppRoleAssignedTo(_ *graphCall, p []string) graphResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	i := slices.IndexFunc(t.appRoles, func(a *AppRoleAssignment) bool { return a.ID == p[1] && strings.EqualFold(a.ResourceID, p[0]) })
	if i < 0 {
		return graphNotFound(p[1])
	}
	t.appRoles = slices.Delete(t.appRoles, i, i+1)
	return graphNoContent()
}

func validGUID(s string) bool {
	b := strings.ReplaceAll(s, "-", "")
	if len(s) != 36 || len(b) != 32 {
		return false
	}
	for _, r := range b {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
