package graph

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

func assignmentJSON(id string) map[string]any {
	return map[string]any{
		"id": id, "principalId": userID, "roleDefinitionId": roleID, "directoryScopeId": "/", "appScopeId": nil,
		"roleDefinition": map[string]any{"id": roleID, "displayName": "Global Administrator", "isBuiltIn": true, "templateId": roleID},
	}
}

func TestRoleAssignments(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/roleManagement/directory/roleAssignments", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		custom := map[string]any{
			"id": "custom-1", "principalId": userID, "roleDefinitionId": groupID, "directoryScopeId": "/administrativeUnits/" + groupID,
			"roleDefinition": map[string]any{"id": groupID, "displayName": "Helpdesk Custom", "isBuiltIn": false, "templateId": groupID},
		}
		writeJSON(w, http.StatusOK, collection([]any{assignmentJSON("ga-1"), custom}, ""))
	})
	c := newTestClient(t, f)

	got, err := c.RoleAssignments(context.Background(), userID)
	if err != nil {
		t.Fatalf("RoleAssignments: %v", err)
	}
	want := []RoleAssignment{
		{ID: "ga-1", PrincipalID: userID, RoleDefinitionID: roleID, RoleName: "Global Administrator", DirectoryScopeID: "/", BuiltIn: true, TemplateID: roleID},
		{ID: "custom-1", PrincipalID: userID, RoleDefinitionID: groupID, RoleName: "Helpdesk Custom", DirectoryScopeID: "/administrativeUnits/" + groupID, TemplateID: groupID},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("assignments = %+v, want %+v", got, want)
	}
	q := f.seen()[0].Query
	if q.Get("$filter") != "principalId eq '"+userID+"'" || q.Get("$expand") != "roleDefinition" {
		t.Errorf("query = %v, want the principalId filter and roleDefinition expanded", q)
	}
}

func TestRoleAssignmentsForRole(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/roleManagement/directory/roleAssignments", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, collection([]any{
			map[string]any{"id": "x1", "principalId": userID, "roleDefinitionId": roleID, "directoryScopeId": "/"},
		}, ""))
	})
	got, err := newTestClient(t, f).RoleAssignmentsForRole(context.Background(), GlobalAdministratorTemplateID)
	if err != nil {
		t.Fatalf("RoleAssignmentsForRole: %v", err)
	}
	if len(got) != 1 || got[0].ID != "x1" || got[0].RoleName != "" {
		t.Errorf("assignments = %+v", got)
	}
	if q := f.seen()[0].Query.Get("$filter"); q != "roleDefinitionId eq '"+GlobalAdministratorTemplateID+"'" {
		t.Errorf("$filter = %q", q)
	}
	if q := f.seen()[0].Query.Get("$expand"); q != "principal" {
		t.Errorf("$expand = %q, want principal", q)
	}
}

// The Global Administrator count reads each principal's kind and standing from the
// expansion; a principal without accountEnabled, or a listing that refuses the expansion,
// leaves the principal unknown (the caller then reads it).
func TestRoleAssignmentsForRoleExpandsPrincipals(t *testing.T) {
	const groupID, spID, otherID = "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444"
	f := newFakeGraph(t)
	f.on("GET", "/roleManagement/directory/roleAssignments", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, collection([]any{
			map[string]any{"id": "a1", "principalId": userID, "roleDefinitionId": roleID,
				"principal": map[string]any{"@odata.type": "#microsoft.graph.user", "id": userID, "accountEnabled": false, "userPrincipalName": "adele@contoso.example"}},
			map[string]any{"id": "a2", "principalId": groupID, "roleDefinitionId": roleID,
				"principal": map[string]any{"@odata.type": "#microsoft.graph.group", "id": groupID}},
			map[string]any{"id": "a3", "principalId": spID, "roleDefinitionId": roleID,
				"principal": map[string]any{"@odata.type": "#microsoft.graph.servicePrincipal", "id": spID}},
			map[string]any{"id": "a4", "principalId": otherID, "roleDefinitionId": roleID,
				"principal": map[string]any{"@odata.type": "#microsoft.graph.user", "id": otherID}},
			map[string]any{"id": "a5", "principalId": otherID, "roleDefinitionId": roleID, "principal": nil},
		}, ""))
	})
	got, err := newTestClient(t, f).RoleAssignmentsForRole(context.Background(), GlobalAdministratorTemplateID)
	if err != nil || len(got) != 5 {
		t.Fatalf("RoleAssignmentsForRole = %+v, %v", got, err)
	}
	if p := got[0].Principal; p == nil || p.Kind != PrincipalUser || p.AccountEnabled == nil || *p.AccountEnabled || p.UserPrincipalName != "adele@contoso.example" {
		t.Errorf("disabled user principal = %+v", p)
	}
	if p := got[1].Principal; p == nil || p.Kind != PrincipalGroup {
		t.Errorf("group principal = %+v", p)
	}
	if p := got[2].Principal; p == nil || p.Kind != PrincipalServicePrincipal {
		t.Errorf("service principal = %+v", p)
	}
	if p := got[3].Principal; p == nil || p.Kind != PrincipalUser || p.AccountEnabled != nil {
		t.Errorf("user principal without accountEnabled = %+v, want the standing unknown", p)
	}
	if got[4].Principal != nil {
		t.Errorf("null principal = %+v, want nil", got[4].Principal)
	}

	refusing := newFakeGraph(t)
	refusing.on("GET", "/roleManagement/directory/roleAssignments", func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Query().Get("$expand") != "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "Request_BadRequest", "message": "Invalid $expand"}})
			return
		}
		writeJSON(w, http.StatusOK, collection([]any{map[string]any{"id": "a1", "principalId": userID, "roleDefinitionId": roleID}}, ""))
	})
	got, err = newTestClient(t, refusing).RoleAssignmentsForRole(context.Background(), GlobalAdministratorTemplateID)
	if err != nil || len(got) != 1 || got[0].Principal != nil {
		t.Errorf("after a refused expansion = %+v, %v, want the listing without principals", got, err)
	}
	if n := len(refusing.seen()); n != 2 {
		t.Errorf("requests = %d, want 2 (with the expansion, then without)", n)
	}
}

func TestDeleteRoleAssignment(t *testing.T) {
	const id = "lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr48lds9SGHI-1"
	f := newFakeGraph(t)
	f.on("DELETE", "/roleManagement/directory/roleAssignments/"+id, noContent)
	c := newTestClient(t, f)

	if err := c.DeleteRoleAssignment(context.Background(), id); err != nil {
		t.Fatalf("DeleteRoleAssignment: %v", err)
	}
	for _, bad := range []string{"", "a/b", "..", "a b", "x?$top=1"} {
		if err := c.DeleteRoleAssignment(context.Background(), bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("DeleteRoleAssignment(%q) = %v, want ErrInvalidID", bad, err)
		}
	}
	if n := len(f.seen()); n != 1 {
		t.Errorf("fake saw %d requests, want 1", n)
	}
}

func TestCreateRoleAssignment(t *testing.T) {
	f := newFakeGraph(t)
	f.on("POST", "/roleManagement/directory/roleAssignments", func(w http.ResponseWriter, _ *http.Request, body []byte) {
		in := decodeJSON(t, body)
		writeJSON(w, http.StatusCreated, map[string]any{
			"id": "new-1", "principalId": in["principalId"], "roleDefinitionId": in["roleDefinitionId"], "directoryScopeId": in["directoryScopeId"],
		})
	})
	c := newTestClient(t, f)

	id, err := c.CreateRoleAssignment(context.Background(), userID, roleID, "/")
	if err != nil || id != "new-1" {
		t.Fatalf("CreateRoleAssignment = %q, %v", id, err)
	}
	body := decodeJSON(t, f.seen()[0].Body)
	if body["principalId"] != userID || body["roleDefinitionId"] != roleID || body["directoryScopeId"] != "/" {
		t.Errorf("body = %v", body)
	}
	if _, err := c.CreateRoleAssignment(context.Background(), userID, roleID, "no-slash"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad scope error = %v, want ErrInvalidID", err)
	}
}

func TestRoleListingsAskAgainWithoutExpandWhenItIsRefused(t *testing.T) {
	f := newFakeGraph(t)
	var withExpand, without int
	refuseExpand := func(w http.ResponseWriter, r *http.Request, item map[string]any) {
		if r.URL.Query().Get("$expand") != "" {
			withExpand++
			graphError(w, http.StatusBadRequest, "BadRequest", "Query option 'Expand' is not allowed.")
			return
		}
		without++
		writeJSON(w, http.StatusOK, collection([]any{item}, ""))
	}
	f.on("GET", "/roleManagement/directory/roleAssignments", func(w http.ResponseWriter, r *http.Request, _ []byte) {
		refuseExpand(w, r, map[string]any{"id": "x1", "principalId": userID, "roleDefinitionId": roleID, "directoryScopeId": "/"})
	})
	f.on("GET", "/roleManagement/directory/roleEligibilitySchedules", func(w http.ResponseWriter, r *http.Request, _ []byte) {
		refuseExpand(w, r, map[string]any{"id": "e1", "principalId": userID, "roleDefinitionId": roleID, "directoryScopeId": "/"})
	})
	c := newTestClient(t, f)
	assigned, err := c.RoleAssignments(context.Background(), userID)
	if err != nil || len(assigned) != 1 || assigned[0].RoleDefinitionID != roleID {
		t.Fatalf("assignments %+v, %v", assigned, err)
	}
	eligible, err := c.EligibleSchedules(context.Background(), userID)
	if err != nil || len(eligible) != 1 || eligible[0].ID != "e1" {
		t.Fatalf("eligible %+v, %v", eligible, err)
	}
	if withExpand != 2 || without != 2 {
		t.Fatalf("requests with $expand %d, without %d; want 2 and 2", withExpand, without)
	}
}
