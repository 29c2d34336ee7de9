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
