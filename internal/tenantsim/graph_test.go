package tenantsim

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestGraphRequiresGraphToken(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	graphToken := fetchToken(t, sim, "https://graph.microsoft.com")
	exoToken := fetchToken(t, sim, "https://outlook.office365.com")

	tests := []struct {
		name    string
		token   string
		status  int
		message string
	}{
		{"no token", "", 401, "Access token is empty."},
		{"exchange token", exoToken, 401, "Access token validation failure. Invalid audience."},
		{"forged token", "abc.def", 401, "Access token validation failure."},
		{"graph token", graphToken, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := graphCallHTTP(t, sim, tc.token, http.MethodGet, "/users/"+demo.UserID, nil)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if tc.status == 401 {
				code, msg := graphErrorParts(t, body)
				if code != "InvalidAuthenticationToken" || msg != tc.message {
					t.Errorf("error = %s %q", code, msg)
				}
			}
		})
	}
	for _, r := range sim.Requests() {
		if r.Service == ServiceGraph && r.Authorized != (r.Status == 200) {
			t.Errorf("request %+v: Authorized does not match the outcome", r)
		}
	}
}

func TestGraphErrorEnvelope(t *testing.T) {
	t.Parallel()
	sim, _ := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	status, hdr, body := graphCallHTTP(t, sim, tok, http.MethodGet, "/users/ghost", nil)
	if status != 404 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d content-type %q", status, hdr.Get("Content-Type"))
	}
	code, msg := graphErrorParts(t, body)
	if code != "Request_ResourceNotFound" || msg != "Resource 'ghost' does not exist or one of its queried reference-property objects are not present." {
		t.Errorf("error = %s %q", code, msg)
	}
	inner, _ := body["error"].(map[string]any)["innerError"].(map[string]any)
	for _, k := range []string{"date", "request-id", "client-request-id"} {
		if s, _ := inner[k].(string); s == "" {
			t.Errorf("innerError.%s missing in %v", k, inner)
		}
	}
}

func TestGraphUserSelect(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")

	tests := []struct {
		name     string
		query    string
		status   int
		wantKeys []string
		noKeys   []string
	}{
		{"default properties", "", 200, []string{"id", "userPrincipalName", "displayName", "mail"}, []string{"onPremisesSyncEnabled", "accountEnabled"}},
		{"selected", "?$select=id,onPremisesSyncEnabled,accountEnabled", 200, []string{"id", "onPremisesSyncEnabled", "accountEnabled"}, []string{"displayName"}},
		{"case-insensitive select", "?$select=ID,OnPremisesSyncEnabled", 200, []string{"id", "onPremisesSyncEnabled"}, []string{"mail"}},
		{"unknown property", "?$select=id,favouriteColour", 400, nil, nil},
		{"unsupported option", "?$orderby=displayName", 400, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := graphCallHTTP(t, sim, tok, http.MethodGet, "/users/"+demo.UPN+tc.query, nil)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			for _, k := range tc.wantKeys {
				if _, ok := body[k]; !ok {
					t.Errorf("missing %q in %v", k, body)
				}
			}
			for _, k := range tc.noKeys {
				if _, ok := body[k]; ok {
					t.Errorf("unexpected %q in %v", k, body)
				}
			}
		})
	}
	_, _, body := graphCallHTTP(t, sim, tok, http.MethodGet, "/users/"+demo.UPN+"?$select=id,onPremisesSyncEnabled", nil)
	if ctx, _ := body["@odata.context"].(string); !strings.HasSuffix(ctx, "/v1.0/$metadata#users(id,onPremisesSyncEnabled)/$entity") {
		t.Errorf("@odata.context = %q", ctx)
	}
	if v, present := body["onPremisesSyncEnabled"]; !present || v != nil {
		t.Errorf("cloud user onPremisesSyncEnabled = %v (present %v), want null", v, present)
	}
}

func TestGraphFilterForms(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	tests := []struct {
		name   string
		path   string
		query  string
		status int
		count  int // items over all pages
	}{
		{"principalId", "/roleManagement/directory/roleAssignments", "principalId eq '" + demo.UserID + "'", 200, 2},
		{"roleDefinitionId counts global admins", "/roleManagement/directory/roleAssignments", "roleDefinitionId eq '" + RoleGlobalAdministrator + "'", 200, 2},
		{"eligibility by principal", "/roleManagement/directory/roleEligibilitySchedules", "principalId eq '" + demo.UserID + "'", 200, 1},
		{"active schedules by principal", "/roleManagement/directory/roleAssignmentSchedules", "principalId eq '" + demo.UserID + "'", 200, 0},
		{"startsWith refused", "/roleManagement/directory/roleAssignments", "startsWith(principalId,'1')", 400, 0},
		{"and refused", "/roleManagement/directory/roleAssignments", "principalId eq 'a' and roleDefinitionId eq 'b'", 400, 0},
		{"other property refused", "/roleManagement/directory/roleAssignments", "directoryScopeId eq '/'", 400, 0},
		{"ne refused", "/roleManagement/directory/roleAssignments", "principalId ne 'a'", 400, 0},
		{"filter on memberOf refused", "/users/" + demo.UserID + "/memberOf", "id eq 'x'", 400, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.path + "?$filter=" + url.QueryEscape(tc.query)
			status, _, body := graphCallHTTP(t, sim, tok, http.MethodGet, target, nil)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if status == 400 {
				code, msg := graphErrorParts(t, body)
				if code != "BadRequest" || !strings.HasPrefix(msg, "Invalid filter clause") {
					t.Errorf("error = %s %q", code, msg)
				}
				return
			}
			if n := len(followGraph(t, sim, tok, body)); n != tc.count {
				t.Errorf("items = %d, want %d", n, tc.count)
			}
		})
	}
}

// followGraph collects the items of a Graph collection across its nextLinks.
func followGraph(t *testing.T, sim *Sim, tok string, page map[string]any) []map[string]any {
	t.Helper()
	var items []map[string]any
	for {
		for _, v := range page["value"].([]any) {
			items = append(items, v.(map[string]any))
		}
		next, _ := page["@odata.nextLink"].(string)
		if next == "" {
			return items
		}
		status, _, body := graphCallHTTP(t, sim, tok, http.MethodGet, next, nil)
		if status != 200 {
			t.Fatalf("nextLink %s: %d %v", next, status, body)
		}
		page = body
	}
}

func TestGraphPaging(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	for _, role := range []string{RoleHelpdeskAdministrator, RoleGlobalReader, RoleSecurityReader} {
		sim.AssignRole(demo.UserID, role, "/")
	}
	filter := "/roleManagement/directory/roleAssignments?$filter=" + url.QueryEscape("principalId eq '"+demo.UserID+"'") + "&$expand=roleDefinition"
	status, _, first := graphCallHTTP(t, sim, tok, http.MethodGet, filter, nil)
	if status != 200 {
		t.Fatalf("status %d %v", status, first)
	}
	if n := len(first["value"].([]any)); n != 2 {
		t.Errorf("first page has %d items, want the page size 2", n)
	}
	next, _ := first["@odata.nextLink"].(string)
	if !strings.HasPrefix(next, sim.GraphURL()+"/roleManagement/directory/roleAssignments?") {
		t.Fatalf("nextLink %q is not absolute", next)
	}
	for _, part := range []string{"$filter=principalId%20eq%20'" + demo.UserID + "'", "$expand=roleDefinition", "$skiptoken="} {
		if !strings.Contains(next, part) {
			t.Errorf("nextLink %q lacks %q", next, part)
		}
	}
	items := followGraph(t, sim, tok, first)
	if len(items) != 5 {
		t.Fatalf("items = %d, want 5", len(items))
	}
	seen := map[string]bool{}
	for _, it := range items {
		id := it["id"].(string)
		if seen[id] {
			t.Errorf("item %s served twice", id)
		}
		seen[id] = true
		if def, _ := it["roleDefinition"].(map[string]any); def["displayName"] == nil {
			t.Errorf("item %s lacks the expanded roleDefinition", id)
		}
	}

	status, _, top := graphCallHTTP(t, sim, tok, http.MethodGet, filter+"&$top=10", nil)
	if status != 200 || len(top["value"].([]any)) != 5 || top["@odata.nextLink"] != nil {
		t.Errorf("$top=10: status %d, %d items, nextLink %v", status, len(top["value"].([]any)), top["@odata.nextLink"])
	}
	for _, bad := range []string{"&$top=0", "&$top=1000", "&$skiptoken=garbage"} {
		if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodGet, filter+bad, nil); status != 400 {
			t.Errorf("%s: status %d, want 400", bad, status)
		}
	}
}

func TestGraphPasswordRules(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	patch := func(user, pw string) (int, map[string]any) {
		status, _, body := graphCallHTTP(t, sim, tok, http.MethodPatch, "/users/"+user,
			map[string]any{"passwordProfile": map[string]any{"password": pw, "forceChangePasswordNextSignIn": true}})
		return status, body
	}
	const strong = "Vq3#pLx9!Rt2@mWz"
	if status, body := patch(demo.UPN, strong); status != 204 {
		t.Fatalf("strong password: %d %v", status, body)
	}

	sim.SetCanResetAdmins(false)
	tests := []struct {
		name   string
		user   string
		status int
		code   string
		msg    string
	}{
		{"direct admin", demo.UserID, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
		{"global admin", demo.GlobalAdminID, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
		{"admin through a role-assignable group", demo.ManagerID, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
		{"ordinary user", demo.AssistantID, 204, "", ""},
		{"synced user", demo.SyncedUserID, 400, "Request_BadRequest", "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := patch(tc.user, strong)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if tc.code != "" {
				if code, msg := graphErrorParts(t, body); code != tc.code || msg != tc.msg {
					t.Errorf("error = %s %q", code, msg)
				}
			}
		})
	}
	if n := len(sim.PasswordResets(demo.UserID)); n != 1 {
		t.Errorf("resets of the demo user = %d, want 1 (the refused one must not count)", n)
	}
	status, _, body := graphCallHTTP(t, sim, tok, http.MethodPatch, "/users/"+demo.AssistantID, map[string]any{"jobTitle": "x"})
	if status != 400 {
		t.Errorf("unsupported property: %d %v", status, body)
	}
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodPatch, "/users/"+demo.AssistantID, nil); status != 400 {
		t.Errorf("empty body: status %d, want 400", status)
	}
}

func TestPasswordComplexity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"three classes", "Password1", true},
		{"four classes", "Pa55w0rd!x", true},
		{"lower upper symbol", "Password!", true},
		{"space counts as a symbol", "pass word 1", true},
		{"too short", "Pa5!", false},
		{"two classes", "password1", false},
		{"one class", "passwordpassword", false},
		{"unicode refused", "Pässwörd1!", false},
		{"control character refused", "Pass\tword1", false},
		{"256 characters", strings.Repeat("aB3", 85) + "x", true},
		{"257 characters", strings.Repeat("aB3", 85) + "xy", false},
	}
	for _, tc := range tests {
		if got := passwordMeetsComplexity(tc.pw); got != tc.ok {
			t.Errorf("%s: passwordMeetsComplexity = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestGraphGzipBody(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	send := func(body []byte) int {
		req, _ := http.NewRequest(http.MethodPatch, sim.GraphURL()+"/users/"+demo.UserID, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		status, _, _ := do(t, req)
		return status
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"passwordProfile":{"password":"Gz!p9Body#Works","forceChangePasswordNextSignIn":true}}`))
	_ = zw.Close()
	if status := send(buf.Bytes()); status != 204 {
		t.Fatalf("gzip PATCH: %d", status)
	}
	if r := sim.PasswordResets(demo.UserID); len(r) != 1 || r[0].Password != "Gz!p9Body#Works" {
		t.Errorf("resets = %+v", r)
	}
	if status := send([]byte("not gzip")); status != 400 {
		t.Errorf("broken gzip: %d, want 400", status)
	}
	if status := send(nil); status != 400 {
		t.Errorf("empty gzip body: %d, want 400", status)
	}
}

func TestGraphRoleAssignmentsCreateDelete(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	body := map[string]any{"principalId": demo.AssistantID, "roleDefinitionId": RoleHelpdeskAdministrator, "directoryScopeId": "/"}
	status, _, created := graphCallHTTP(t, sim, tok, http.MethodPost, "/roleManagement/directory/roleAssignments", body)
	if status != 201 || created["id"] == nil || created["principalId"] != demo.AssistantID {
		t.Fatalf("create: %d %v", status, created)
	}
	if status, _, dup := graphCallHTTP(t, sim, tok, http.MethodPost, "/roleManagement/directory/roleAssignments", body); status != 400 {
		t.Errorf("duplicate: %d %v", status, dup)
	}
	id := created["id"].(string)
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodDelete, "/roleManagement/directory/roleAssignments/"+id, nil); status != 204 {
		t.Errorf("delete: %d", status)
	}
	if got := sim.RoleAssignments(demo.AssistantID); len(got) != 0 {
		t.Errorf("assignments left: %+v", got)
	}
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodDelete, "/roleManagement/directory/roleAssignments/"+id, nil); status != 404 {
		t.Errorf("second delete: %d, want 404", status)
	}
	bad := map[string]any{"principalId": demo.AssistantID, "roleDefinitionId": "no-such-role", "directoryScopeId": "/"}
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodPost, "/roleManagement/directory/roleAssignments", bad); status != 400 {
		t.Errorf("unknown role: %d, want 400", status)
	}
}

func TestGraphPIMActiveRemoveAndReassign(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	scheduleID := sim.AddActivePIMRole(demo.UserID, RoleHelpdeskAdministrator, "/")
	if n := len(sim.RoleAssignments(demo.UserID)); n != 3 {
		t.Fatalf("assignments = %d, want 3 (2 direct + 1 PIM active)", n)
	}
	status, _, list := graphCallHTTP(t, sim, tok, http.MethodGet,
		"/roleManagement/directory/roleAssignmentSchedules?$filter="+url.QueryEscape("principalId eq '"+demo.UserID+"'")+"&$expand=roleDefinition", nil)
	if status != 200 || len(list["value"].([]any)) != 1 {
		t.Fatalf("schedules: %d %v", status, list)
	}
	sched := list["value"].([]any)[0].(map[string]any)
	if sched["id"] != scheduleID || sched["assignmentType"] != "Assigned" || sched["memberType"] != "Direct" {
		t.Errorf("schedule = %v", sched)
	}

	req := map[string]any{"action": "adminRemove", "principalId": demo.UserID, "roleDefinitionId": RoleHelpdeskAdministrator, "directoryScopeId": "/", "justification": "test"}
	status, _, resp := graphCallHTTP(t, sim, tok, http.MethodPost, "/roleManagement/directory/roleAssignmentScheduleRequests", req)
	if status != 201 || resp["status"] != "Revoked" {
		t.Fatalf("adminRemove: %d %v", status, resp)
	}
	if n := len(sim.ActivePIMRoles(demo.UserID)); n != 0 {
		t.Errorf("active schedules left: %d", n)
	}
	if n := len(sim.RoleAssignments(demo.UserID)); n != 2 {
		t.Errorf("assignments = %d, want 2 after removing the PIM active one", n)
	}

	req["action"] = "adminAssign"
	req["scheduleInfo"] = map[string]any{"startDateTime": "2030-01-01T00:00:00Z", "expiration": map[string]any{"type": "afterDuration", "duration": "P30D"}}
	status, _, resp = graphCallHTTP(t, sim, tok, http.MethodPost, "/roleManagement/directory/roleAssignmentScheduleRequests", req)
	if status != 201 || resp["status"] != "Provisioned" {
		t.Fatalf("adminAssign: %d %v", status, resp)
	}
	active := sim.ActivePIMRoles(demo.UserID)
	if len(active) != 1 || active[0].End.Sub(active[0].Start).Hours() != 30*24 {
		t.Errorf("active after adminAssign = %+v", active)
	}
	if n := len(sim.RoleAssignments(demo.UserID)); n != 3 {
		t.Errorf("assignments after adminAssign = %d, want 3", n)
	}
	if status, _, resp := graphCallHTTP(t, sim, tok, http.MethodPost, "/roleManagement/directory/roleAssignmentScheduleRequests", req); status != 400 {
		t.Errorf("second adminAssign: %d %v", status, resp)
	} else if code, _ := graphErrorParts(t, resp); code != "RoleAssignmentExists" {
		t.Errorf("second adminAssign code = %s", code)
	}

	// Eligible roles come back through adminAssign as well.
	elig := map[string]any{"action": "adminRemove", "principalId": demo.UserID, "roleDefinitionId": RoleSecurityAdministrator, "directoryScopeId": "/"}
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodPost, "/roleManagement/directory/roleEligibilityScheduleRequests", elig); status != 201 {
		t.Fatalf("eligibility adminRemove: %d", status)
	}
	elig["action"] = "adminAssign"
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodPost, "/roleManagement/directory/roleEligibilityScheduleRequests", elig); status != 201 {
		t.Fatalf("eligibility adminAssign: %d", status)
	}
	if got := sim.EligibleRoles(demo.UserID); len(got) != 1 || got[0].RoleDefinitionID != RoleSecurityAdministrator {
		t.Errorf("eligible = %+v", got)
	}
	elig["action"] = "selfActivate"
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodPost, "/roleManagement/directory/roleEligibilityScheduleRequests", elig); status != 400 {
		t.Errorf("unsupported action: %d, want 400", status)
	}
}

func TestGraphGroupMembers(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + demo.AssistantID}
	members := "/groups/" + demo.HelpdeskGroupID + "/members/$ref"

	if status, _, body := graphCallHTTP(t, sim, tok, http.MethodPost, members, ref); status != 204 {
		t.Fatalf("add member: %d %v", status, body)
	}
	status, _, body := graphCallHTTP(t, sim, tok, http.MethodPost, members, ref)
	if code, msg := graphErrorParts(t, body); status != 400 || code != "Request_BadRequest" || !strings.Contains(msg, "already exist") {
		t.Errorf("re-add: %d %s %q", status, code, msg)
	}
	// The query form DELETE /groups/{id}/members/$ref?$id=<url>.
	del := members + "?$id=" + url.QueryEscape("https://graph.microsoft.com/v1.0/directoryObjects/"+demo.AssistantID)
	if status, _, body := graphCallHTTP(t, sim, tok, http.MethodDelete, del, nil); status != 204 {
		t.Fatalf("remove by $id: %d %v", status, body)
	}
	for _, m := range sim.GroupMembers(demo.HelpdeskGroupID) {
		if m == demo.AssistantID {
			t.Error("assistant still a member")
		}
	}
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodDelete, "/groups/"+demo.HelpdeskGroupID+"/members/"+demo.AssistantID+"/$ref", nil); status != 404 {
		t.Errorf("remove non-member: %d, want 404", status)
	}
	status, _, list := graphCallHTTP(t, sim, tok, http.MethodGet, "/users/"+demo.UserID+"/memberOf", nil)
	if status != 200 {
		t.Fatalf("memberOf: %d", status)
	}
	types := map[string]int{}
	for _, it := range followGraph(t, sim, tok, list) {
		types[it["@odata.type"].(string)]++
	}
	if types["#microsoft.graph.group"] != 2 || types["#microsoft.graph.directoryRole"] != 2 {
		t.Errorf("memberOf types = %v, want 2 groups and 2 directory roles", types)
	}
}

func TestGraphRouting(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	tests := []struct {
		name   string
		method string
		path   string
		status int
		code   string
	}{
		{"unknown segment", http.MethodGet, "/users/" + demo.UserID + "/drives", 400, "BadRequest"},
		{"wrong method", http.MethodPut, "/users/" + demo.UserID, 405, "Request_BadRequest"},
		{"unknown group", http.MethodGet, "/groups/nope", 404, "Request_ResourceNotFound"},
		{"role definition", http.MethodGet, "/roleManagement/directory/roleDefinitions/" + RoleGlobalAdministrator, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := graphCallHTTP(t, sim, tok, tc.method, tc.path, nil)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if tc.code != "" {
				if code, _ := graphErrorParts(t, body); code != tc.code {
					t.Errorf("code = %s, want %s", code, tc.code)
				}
			}
		})
	}
}

func TestGraphBatch(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	sim.ThrottleNext(1, "POST /v1.0/users/"+demo.AssistantID+"/revokeSignInSessions", 0)
	batch := map[string]any{"requests": []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + demo.UserID + "?$select=id,onPremisesSyncEnabled"},
		{"id": "2", "method": "POST", "url": "/users/" + demo.UserID + "/revokeSignInSessions"},
		{"id": "3", "method": "GET", "url": "users/ghost"},
		{"id": "4", "method": "GET", "url": "/users/" + demo.UserID, "dependsOn": []string{"3"}},
		{"id": "5", "method": "POST", "url": "/users/" + demo.AssistantID + "/revokeSignInSessions"},
		{"id": "6", "method": "PATCH", "url": "/users/" + demo.AssistantID, "headers": map[string]string{"Content-Type": "application/json"},
			"body": map[string]any{"accountEnabled": false}},
	}}
	status, _, body := graphCallHTTP(t, sim, tok, http.MethodPost, "/$batch", batch)
	if status != 200 {
		t.Fatalf("batch: %d %v", status, body)
	}
	got := map[string]map[string]any{}
	for _, r := range body["responses"].([]any) {
		item := r.(map[string]any)
		got[item["id"].(string)] = item
	}
	wantStatus := map[string]float64{"1": 200, "2": 200, "3": 404, "4": 424, "5": 429, "6": 204}
	for id, want := range wantStatus {
		if got[id]["status"] != want {
			t.Errorf("item %s status = %v, want %v (%v)", id, got[id]["status"], want, got[id])
		}
	}
	if h, _ := got["5"]["headers"].(map[string]any); h["Retry-After"] != "0" {
		t.Errorf("throttled item headers = %v", h)
	}
	if b, _ := got["1"]["body"].(map[string]any); b["id"] != demo.UserID {
		t.Errorf("item 1 body = %v", b)
	}
	if u, _ := sim.User(demo.AssistantID); u.AccountEnabled {
		t.Error("PATCH in batch did not disable the account")
	}
	if n := sim.SessionsRevoked(demo.UserID); n != 1 {
		t.Errorf("revocations = %d", n)
	}
	items := 0
	for _, r := range sim.Requests() {
		if r.InBatch {
			items++
			if !r.Authorized || !strings.HasPrefix(r.Path, "/v1.0/users") {
				t.Errorf("batch item recorded as %+v", r)
			}
		}
	}
	if items != 5 { // item 4 never ran
		t.Errorf("recorded batch items = %d, want 5", items)
	}

	tooMany := make([]map[string]any, 21)
	for i := range tooMany {
		tooMany[i] = map[string]any{"id": string(rune('a' + i)), "method": "GET", "url": "/users/" + demo.UserID}
	}
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodPost, "/$batch", map[string]any{"requests": tooMany}); status != 400 {
		t.Errorf("21 requests: %d, want 400", status)
	}
	noType := map[string]any{"requests": []map[string]any{{"id": "1", "method": "PATCH", "url": "/users/x", "body": map[string]any{"a": 1}}}}
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodPost, "/$batch", noType); status != 400 {
		t.Errorf("body without Content-Type: %d, want 400", status)
	}
}
