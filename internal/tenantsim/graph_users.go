package tenantsim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The properties Graph v1.0 returns for a user without $select; onPremisesSyncEnabled and
// accountEnabled are not among them.
var userDefaultFields = []string{
	"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
}

var userSpec = querySpec{
	entity:     "microsoft.graph.user",
	selectable: append(append([]string{}, userDefaultFields...), "onPremisesSyncEnabled", "accountEnabled", "userType", "mailNickname", "proxyAddresses"),
}

// userListSpec is GET /users: paged, with the one $filter listUsers takes off first.
var userListSpec = querySpec{entity: userSpec.entity, selectable: userSpec.selectable, paged: true}

// proxyAddressFilter is the one $filter GET /users answers: an equality inside any() on
// proxyAddresses, "proxyAddresses/any(x:x eq 'smtp:addr')" (a default query in Graph: no
// ConsistencyLevel needed). Go's regexp has no back-references: the two range variables are
// compared in listUsers.
var proxyAddressFilter = regexp.MustCompile(`^\s*proxyAddresses/any\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([A-Za-z_][A-Za-z0-9_]*)\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$`)

// proxyAddresses is what Graph shows for a user with a mailbox: its primary SMTP address as
// "SMTP:<address>", then its other SMTP addresses as "smtp:<address>"; none without a
// mailbox.
func (t *tenant) proxyAddresses(u *User) []string {
	if mb := t.mailboxes[u.ID]; mb != nil && mb.PrimarySmtpAddress != "" {
		return emailAddresses(mb)
	}
	return []string{}
}

// listUsers is GET /users, optionally filtered by proxy address. The directory compares the
// address without regard to case, so "smtp:" finds the primary "SMTP:" address too. Any other
// $filter answers 400 as Graph does for an unsupported clause.
func (s *Sim) listUsers(c *graphCall, _ []string) graphResult {
	query := url.Values{}
	var want string
	filtered := false
	for key, values := range c.query {
		if strings.EqualFold(strings.TrimPrefix(key, "$"), "filter") {
			m := proxyAddressFilter.FindStringSubmatch(values[0])
			if m == nil || m[1] != m[2] {
				return graphErr(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property 'proxyAddresses' of resource 'User'.")
			}
			want, filtered = strings.ReplaceAll(m[3], "''", "'"), true
			continue
		}
		query[key] = values
	}
	opts, bad := parseQuery(query, userListSpec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []map[string]any{}
	for _, u := range s.tenant.users {
		proxies := s.tenant.proxyAddresses(u)
		if filtered && !slices.ContainsFunc(proxies, func(p string) bool { return strings.EqualFold(p, want) }) {
			continue
		}
		entity := userEntity(u)
		entity["proxyAddresses"] = proxies
		items = append(items, project(entity, opts.selectFields, userDefaultFields))
	}
	return s.pageItems(c, opts, "users"+selectSuffix(opts.selectFields), items)
}

var groupDefaultFields = []string{
	"id", "displayName", "description", "groupTypes", "isAssignableToRole", "mail", "mailEnabled", "securityEnabled",
}

var groupSpec = querySpec{entity: "microsoft.graph.group", selectable: append(append([]string{}, groupDefaultFields...), "mailNickname")}

func userEntity(u *User) map[string]any {
	alias, _, _ := strings.Cut(u.UserPrincipalName, "@")
	var sync any // Graph answers null, not false, for cloud-only users
	if u.OnPremisesSyncEnabled {
		sync = true
	}
	return map[string]any{
		"id": u.ID, "userPrincipalName": u.UserPrincipalName, "displayName": u.DisplayName,
		"mail": nullable(u.Mail), "onPremisesSyncEnabled": sync, "accountEnabled": u.AccountEnabled,
		"businessPhones": []string{}, "givenName": nil, "surname": nil, "jobTitle": nil, "mobilePhone": nil,
		"officeLocation": nil, "preferredLanguage": nil, "userType": userType(u), "mailNickname": alias,
	}
}

// userType is "Guest" for a B2B guest (its UPN holds #EXT#), else "Member".
func userType(u *User) string {
	if strings.Contains(strings.ToUpper(u.UserPrincipalName), "#EXT#@") {
		return "Guest"
	}
	return "Member"
}

func groupEntity(g *Group) map[string]any {
	return map[string]any{
		"@odata.type": "#microsoft.graph.group",
		"id":          g.ID, "displayName": g.DisplayName, "description": nil, "groupTypes": []string{},
		"isAssignableToRole": g.IsAssignableToRole, "mail": nil, "mailEnabled": false, "securityEnabled": true,
		"mailNickname": strings.ToLower(strings.ReplaceAll(g.DisplayName, " ", "")),
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Sim) getUser(c *graphCall, p []string) graphResult {
	opts, bad := parseQuery(c.query, userSpec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.tenant.user(p[0])
	if u == nil {
		return graphNotFound(p[0])
	}
	entity := userEntity(u)
	entity["proxyAddresses"] = s.tenant.proxyAddresses(u)
	body := project(entity, opts.selectFields, userDefaultFields)
	body["@odata.context"] = c.metadataURL("users" + selectSuffix(opts.selectFields) + "/$entity")
	return graphOK(body)
}

// patchUser supports passwordProfile, accountEnabled and displayName.
func (s *Sim) patchUser(c *graphCall, p []string) graphResult {
	var patch map[string]json.RawMessage
	if res, ok := decodeJSONBody(c.body, &patch); !ok {
		return res
	}
	var (
		profile *struct {
			Password    *string `json:"password"`
			ForceChange *bool   `json:"forceChangePasswordNextSignIn"`
		}
		accountEnabled *bool
		displayName    *string
	)
	for key, raw := range patch {
		var err error
		switch {
		case strings.HasPrefix(key, "@odata."):
		case key == "passwordProfile":
			err = json.Unmarshal(raw, &profile)
		case key == "accountEnabled":
			err = json.Unmarshal(raw, &accountEnabled)
		case key == "displayName":
			err = json.Unmarshal(raw, &displayName)
		default:
			return graphErr(http.StatusBadRequest, "Request_BadRequest", "The tenant simulator does not support updating property '"+key+"'.")
		}
		if err != nil {
			return graphErr(http.StatusBadRequest, "Request_BadRequest", "Invalid value for property '"+key+"'.")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	u := t.user(p[0])
	if u == nil {
		return graphNotFound(p[0])
	}
	if profile != nil {
		if !t.canResetAdmins && t.isPrivileged(u.ID) {
			return graphErr(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
		if u.OnPremisesSyncEnabled {
			return graphErr(http.StatusBadRequest, "Request_BadRequest",
				"Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.")
		}
		if u.HomeDirectoryPassword {
			return graphErr(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
		if profile.Password != nil && !passwordMeetsComplexity(*profile.Password) {
			return graphErr(http.StatusBadRequest, "Request_BadRequest", "The specified password does not comply with password complexity requirements.")
		}
	}
	if accountEnabled != nil {
		// accountEnabled of a synced user is mastered on-premises, as its password is; an
		// admin's needs the same privileged role as resetting an admin's password (the
		// Update user page's sensitive properties).
		if u.OnPremisesSyncEnabled {
			return graphErr(http.StatusBadRequest, "Request_BadRequest",
				"Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.")
		}
		if !t.canResetAdmins && t.isPrivileged(u.ID) {
			return graphErr(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
	}
	if profile != nil && profile.Password != nil {
		t.resets[u.ID] = append(t.resets[u.ID], PasswordReset{
			Password: *profile.Password, ForceChange: profile.ForceChange != nil && *profile.ForceChange, At: time.Now().UTC(),
		})
	}
	if accountEnabled != nil {
		u.AccountEnabled = *accountEnabled
	}
	if displayName != nil {
		u.DisplayName = *displayName
	}
	return graphNoContent()
}

func (s *Sim) revokeSessions(c *graphCall, p []string) graphResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.tenant.user(p[0])
	if u == nil {
		return graphNotFound(p[0])
	}
	s.tenant.revoked[u.ID]++
	return graphOK(map[string]any{"@odata.context": c.metadataURL("Edm.Boolean"), "value": true})
}

// listMemberOf lists the user's direct memberships: groups and the directory roles it
// holds actively at tenant scope.
func (s *Sim) listMemberOf(c *graphCall, p []string) graphResult {
	return s.memberOf(c, p[0], true)
}

// listMemberOfGroups is memberOf cast to groups (the SDK's ".../memberOf/graph.group").
func (s *Sim) listMemberOfGroups(c *graphCall, p []string) graphResult {
	return s.memberOf(c, p[0], false)
}

func (s *Sim) memberOf(c *graphCall, userID string, withRoles bool) graphResult {
	spec := groupSpec
	if withRoles {
		spec = querySpec{entity: "microsoft.graph.directoryObject"} // $select accepted, projected loosely
	}
	spec.paged = true
	opts, bad := parseQuery(c.query, spec)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	u := t.user(userID)
	if u == nil {
		return graphNotFound(userID)
	}
	var items []map[string]any
	for _, g := range t.groups {
		for _, m := range t.members[g.ID] {
			if strings.EqualFold(m, u.ID) {
				e := project(groupEntity(g), opts.selectFields, groupDefaultFields)
				if s.omitAssignable {
					delete(e, "isAssignableToRole") // as it may not come back under some permissions
				}
				items = append(items, e)
				break
			}
		}
	}
	context := "groups"
	if withRoles {
		context = "directoryObjects"
		items = append(items, t.directoryRolesOf(u.ID, opts.selectFields)...)
	}
	return s.pageItems(c, opts, context, items)
}

// directoryRolesOf renders the activated directoryRole objects memberOf shows for the
// user's tenant-wide active assignments.
func (t *tenant) directoryRolesOf(userID string, selectFields []string) []map[string]any {
	seen := map[string]bool{}
	var out []map[string]any
	for _, a := range t.assignments {
		if !strings.EqualFold(a.PrincipalID, userID) || a.DirectoryScopeID != "/" || seen[a.RoleDefinitionID] {
			continue
		}
		seen[a.RoleDefinitionID] = true
		d, ok := t.roleDef(a.RoleDefinitionID)
		if !ok {
			continue
		}
		role := map[string]any{
			"@odata.type": "#microsoft.graph.directoryRole", "id": directoryRoleID(d.TemplateID),
			"displayName": d.DisplayName, "description": d.Description, "roleTemplateId": d.TemplateID,
		}
		out = append(out, project(role, selectFields, []string{"id", "displayName", "description", "roleTemplateId"}))
	}
	return out
}

// directoryRoleID derives a stable object id for an activated directory role: in a real
// tenant it differs from the role template id.
func directoryRoleID(templateID string) string {
	h := sha256.Sum256([]byte("directoryRole:" + templateID))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
