package tenantsim

import (
	"net/http"
	"net/url"
	"testing"
)

func TestP1TenantAnswersPIMWithTheLicenceError(t *testing.T) {
	t.Parallel()
	sim := New(Options{})
	d, err := SeedProfile(sim, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	filter := "?$filter=" + url.QueryEscape("principalId eq '"+d.UserID+"'")
	for _, path := range []string{
		"/roleManagement/directory/roleEligibilitySchedules", "/roleManagement/directory/roleAssignmentSchedules",
		"/roleManagement/directory/roleEligibilityScheduleInstances", "/roleManagement/directory/roleAssignmentScheduleInstances",
	} {
		status, _, body := graphCallHTTP(t, sim, tok, http.MethodGet, path+filter, nil)
		code, message := graphErrorParts(t, body)
		if status != 400 || code != "AadPremiumLicenseRequired" || message != "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license." {
			t.Errorf("%s: %d %s %q", path, status, code, message)
		}
	}
	// Plain assignments and group membership work as in any tenant.
	status, _, body := graphCallHTTP(t, sim, tok, http.MethodGet, "/roleManagement/directory/roleAssignments"+filter, nil)
	if items, _ := body["value"].([]any); status != 200 || len(items) != 2 {
		t.Errorf("roleAssignments: %d, %v", status, body)
	}
	status, _, body = graphCallHTTP(t, sim, tok, http.MethodGet, "/groups/"+d.HelpdeskGroupID+"/members/graph.user?$select=id,accountEnabled", nil)
	items, _ := body["value"].([]any)
	if status != 200 || len(items) != 2 {
		t.Fatalf("group members: %d %v", status, body)
	}
	if first, _ := items[0].(map[string]any); first["accountEnabled"] != true || first["id"] != d.UserID {
		t.Errorf("member %v", first)
	}
}

func TestGroupPIMSchedulesAreListedUnderTheMemberAsMemberTypeGroup(t *testing.T) {
	t.Parallel()
	sim := startSim(t, Options{})
	const user, group = "f6f6f6f6-0000-4000-8000-0000000000f1", "f6f6f6f6-0000-4000-8000-0000000000f2"
	sim.AddUser(User{ID: user, UserPrincipalName: "kim@example.test", AccountEnabled: true})
	sim.AddGroup(Group{ID: group, DisplayName: "PIM group", IsAssignableToRole: true})
	sim.AddGroupMember(group, user)
	sim.AddActivePIMRole(group, RoleSecurityAdministrator, "/")
	sim.AddActivePIMRole(user, RoleGlobalReader, "/")
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	status, _, body := graphCallHTTP(t, sim, tok, http.MethodGet, "/roleManagement/directory/roleAssignmentSchedules?$filter="+url.QueryEscape("principalId eq '"+user+"'"), nil)
	items, _ := body["value"].([]any)
	if status != 200 || len(items) != 2 {
		t.Fatalf("%d %v", status, body)
	}
	got := map[string]string{}
	for _, it := range items {
		m := it.(map[string]any)
		if m["principalId"] != user {
			t.Errorf("schedule listed under %v, want the member", m["principalId"])
		}
		got[m["roleDefinitionId"].(string)] = m["memberType"].(string)
	}
	if got[RoleGlobalReader] != "Direct" || got[RoleSecurityAdministrator] != "Group" {
		t.Errorf("memberTypes %v", got)
	}
}
