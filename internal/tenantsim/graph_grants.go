package tenantsim

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// PermissionGrant is a delegated permission grant (oAuth2PermissionGrant).
type PermissionGrant struct {
	ID          string // derived from client, resource and principal, as Graph does
	ClientID    string // service principal of the client application
	ConsentType string // "Principal" (a user consented for themselves) or "AllPrincipals"
	PrincipalID string // the user, for consentType Principal
	ResourceID  string // service principal of the API
	Scope       string // space-separated
}

var grantSpec = querySpec{
	entity:       "microsoft.graph.oAuth2PermissionGrant",
	filterFields: []string{"clientId", "consentType", "principalId", "resourceId"},
	selectable:   []string{"id", "clientId", "consentType", "principalId", "resourceId", "scope"},
	paged:        true,
}

// grantID builds a grant id the way Graph's look: the base64url of the client's,
// resource's and (for Principal grants) the principal's GUIDs in their .NET byte order
// (seen in the grants listed in azure-cli issue 20974: 43 characters for AllPrincipals,
// 64 for Principal).
func grantID(clientID, resourceID, principalID string) string {
	var raw []byte
	for _, id := range []string{clientID, resourceID, principalID} {
		if id == "" {
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
		if err != nil || len(b) != 16 {
			return newGUID()
		}
		// .NET's Guid.ToByteArray: the first three fields little-endian.
		b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
		b[4], b[5] = b[5], b[4]
		b[6], b[7] = b[7], b[6]
		raw = append(raw, b...)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func grantEntity(g *PermissionGrant) map[string]any {
	return map[string]any{
		"id": g.ID, "clientId": g.ClientID, "consentType": g.ConsentType, "principalId": nullable(g.PrincipalID),
		"resourceId": g.ResourceID, "scope": g.Scope,
	}
}

// AddPermissionGrant adds a grant and returns its id.
func (s *Sim) AddPermissionGrant(g PermissionGrant) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.ConsentType == "" {
		g.ConsentType = "Principal"
	}
	g.ID = grantID(g.ClientID, g.ResourceID, g.PrincipalID)
	s.tenant.grants = append(s.tenant.grants, &g)
	return g.ID
}

// PermissionGrants returns the grants whose principal is principalID ("" for all).
func (s *Sim) PermissionGrants(principalID string) []PermissionGrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PermissionGrant
	for _, g := range s.tenant.grants {
		if principalID == "" || strings.EqualFold(g.PrincipalID, principalID) {
			out = append(out, *g)
		}
	}
	return out
}

func (t *tenant) grant(id string) (int, *PermissionGrant) {
	i := slices.IndexFunc(t.grants, func(g *PermissionGrant) bool { return g.ID == id })
	if i < 0 {
		return -1, nil
	}
	return i, t.grants[i]
}

// listGrants is GET /oauth2PermissionGrants, with $filter on one property, paged.
func (s *Sim) listGrants(c *graphCall, _ []string) graphResult {
	opts, bad := parseQuery(c.query, grantSpec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []map[string]any
	for _, g := range s.tenant.grants {
		value := map[string]string{"clientId": g.ClientID, "consentType": g.ConsentType, "principalId": g.PrincipalID, "resourceId": g.ResourceID}[opts.filterField]
		if opts.filterField != "" && !strings.EqualFold(value, opts.filterValue) {
			continue
		}
		items = append(items, project(grantEntity(g), opts.selectFields, grantSpec.selectable))
	}
	return s.pageItems(c, opts, "oauth2PermissionGrants", items)
}

func (s *Sim) getGrant(c *graphCall, p []string) graphResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, g := s.tenant.grant(p[0])
	if g == nil {
		return graphNotFound(p[0])
	}
	body := grantEntity(g)
	body["@odata.context"] = c.metadataURL("oauth2PermissionGrants/$entity")
	return graphOK(body)
}

// createGrant is POST /oauth2PermissionGrants: 201 with the grant; 409
// Request_MultipleObjectsWithSameKeyValue when one exists for the same client, resource
// and principal (terraform-provider-azuread issue 690).
func (s *Sim) createGrant(c *graphCall, _ []string) graphResult {
	var in struct {
		ClientID    string  `json:"clientId"`
		ConsentType string  `json:"consentType"`
		PrincipalID *string `json:"principalId"`
		ResourceID  string  `json:"resourceId"`
		Scope       string  `json:"scope"`
	}
	if res, ok := decodeJSONBody(c.body, &in); !ok {
		return res
	}
	principal := ""
	if in.PrincipalID != nil {
		principal = *in.PrincipalID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	isSP := func(id string) bool {
		return slices.ContainsFunc(t.servicePrincipals, func(sp string) bool { return strings.EqualFold(sp, id) })
	}
	switch {
	case !isSP(in.ClientID):
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'clientId' of resource 'OAuth2PermissionGrant'.")
	case !isSP(in.ResourceID):
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'resourceId' of resource 'OAuth2PermissionGrant'.")
	case in.ConsentType == "Principal" && t.user(principal) == nil:
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'principalId' of resource 'OAuth2PermissionGrant'.")
	case in.ConsentType == "AllPrincipals" && principal != "":
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'principalId' of resource 'OAuth2PermissionGrant'.")
	case in.ConsentType != "Principal" && in.ConsentType != "AllPrincipals":
		return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'consentType' of resource 'OAuth2PermissionGrant'.")
	}
	g := &PermissionGrant{ClientID: in.ClientID, ConsentType: in.ConsentType, PrincipalID: principal, ResourceID: in.ResourceID, Scope: in.Scope}
	g.ID = grantID(g.ClientID, g.ResourceID, g.PrincipalID)
	if _, old := t.grant(g.ID); old != nil {
		return graphErr(http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
	}
	t.grants = append(t.grants, g)
	body := grantEntity(g)
	body["@odata.context"] = c.metadataURL("oauth2PermissionGrants/$entity")
	return graphCreated(body)
}

// patchGrant is PATCH /oauth2PermissionGrants/{id}: only scope may change.
func (s *Sim) patchGrant(c *graphCall, p []string) graphResult {
	var patch map[string]json.RawMessage
	if res, ok := decodeJSONBody(c.body, &patch); !ok {
		return res
	}
	var scope *string
	for key, raw := range patch {
		switch {
		case strings.HasPrefix(key, "@odata."):
		case key == "scope":
			if err := json.Unmarshal(raw, &scope); err != nil || scope == nil {
				return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value for property 'scope'.")
			}
		default:
			return graphErr(http.StatusBadRequest, "Request_BadRequest", "Property '"+key+"' is read-only and cannot be set.")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, g := s.tenant.grant(p[0])
	if g == nil {
		return graphNotFound(p[0])
	}
	if scope != nil {
		g.Scope = *scope
	}
	return graphNoContent()
}

func (s *Sim) deleteGrant(_ *graphCall, p []string) graphResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, g := s.tenant.grant(p[0])
	if g == nil {
		return graphNotFound(p[0])
	}
	s.tenant.grants = slices.Delete(s.tenant.grants, i, i+1)
	return graphNoContent()
}

// servicePrincipalNames are an application identity's names.
type servicePrincipalNames struct {
	appID, displayName string
}

// NameServicePrincipal adds a service principal (see AddServicePrincipal) with its
// application id and display name.
func (s *Sim) NameServicePrincipal(id, appID, displayName string) {
	s.AddServicePrincipal(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.spNames[strings.ToLower(id)] = servicePrincipalNames{appID: appID, displayName: displayName}
}

var servicePrincipalSpec = querySpec{
	entity:     "microsoft.graph.servicePrincipal",
	selectable: []string{"id", "appId", "displayName", "servicePrincipalType", "accountEnabled", "appOwnerOrganizationId"},
}

// getServicePrincipal is GET /servicePrincipals/{id}.
func (s *Sim) getServicePrincipal(c *graphCall, p []string) graphResult {
	opts, bad := parseQuery(c.query, servicePrincipalSpec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	i := slices.IndexFunc(t.servicePrincipals, func(sp string) bool { return strings.EqualFold(sp, p[0]) })
	if i < 0 {
		return graphNotFound(p[0])
	}
	names := t.spNames[strings.ToLower(p[0])]
	entity := map[string]any{"id": t.servicePrincipals[i], "appId": nullable(names.appID), "displayName": nullable(names.displayName),
		"servicePrincipalType": "Application", "accountEnabled": true, "appOwnerOrganizationId": nil}
	body := project(entity, opts.selectFields, servicePrincipalSpec.selectable)
	body["@odata.context"] = c.metadataURL("servicePrincipals" + selectSuffix(opts.selectFields) + "/$entity")
	return graphOK(body)
}
