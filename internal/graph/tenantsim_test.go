package graph

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// simClient starts the tenant simulator with the demo tenant and a client that gets its
// tokens from the simulator's managed identity endpoint, as the handler does in Azure.
func simClient(t *testing.T, pageSize int) (*Client, *tenantsim.Sim, tenantsim.Demo) {
	t.Helper()
	sim := tenantsim.New(tenantsim.Options{PageSize: pageSize})
	demo := tenantsim.SeedDemo(sim)
	if _, err := sim.Start(); err != nil {
		t.Fatalf("tenantsim.Start: %v", err)
	}
	t.Cleanup(sim.Close)

	t.Setenv("IDENTITY_ENDPOINT", sim.IdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", sim.IdentityHeader())
	// A client id of its own: MSAL's process-wide cache would otherwise hand this test a
	// token another simulator or fake issued.
	clientID := fmt.Sprintf("00000000-0000-0000-0001-%012d", fakeSerial.Add(1))
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(clientID)})
	if err != nil {
		t.Fatalf("NewManagedIdentityCredential: %v", err)
	}
	c, err := New(Options{BaseURL: sim.GraphURL(), Credential: cred, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, sim, demo
}

func TestAgainstTenantSimulator(t *testing.T) {
	c, sim, demo := simClient(t, 1) // one item per page: every listing pages
	ctx := context.Background()

	// Read the user, by UPN; a synced user is recognisable; an unknown one is not found.
	user, err := c.GetUser(ctx, demo.UPN)
	if err != nil || user.ID != demo.UserID || user.OnPremisesSyncEnabled {
		t.Fatalf("GetUser = %+v, %v", user, err)
	}
	if synced, err := c.GetUser(ctx, demo.SyncedUPN); err != nil || !synced.OnPremisesSyncEnabled {
		t.Errorf("GetUser(synced) = %+v, %v", synced, err)
	}
	if _, err := c.GetUser(ctx, "nobody@contoso.example"); !IsNotFound(err) {
		t.Errorf("GetUser(unknown) error = %v, want not found", err)
	}

	// Password and sessions; the first PATCH is throttled and retried with its body.
	sim.ThrottleNext(1, "PATCH /v1.0/users/", 0)
	if err := c.SetPassword(ctx, demo.UserID, "Sim-Passw0rd-Long-Enough!"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if resets := sim.PasswordResets(demo.UserID); len(resets) != 1 || !resets[0].ForceChange {
		t.Errorf("password resets = %+v, want one with forced change", resets)
	}
	if err := c.SetPassword(ctx, demo.SyncedUserID, "Sim-Passw0rd-Long-Enough!"); err == nil {
		t.Error("SetPassword on a synced user succeeded")
	} else if ge := asGraphError(t, err); ge.Status != http.StatusBadRequest || ge.Code != "Request_BadRequest" {
		t.Errorf("synced user error = %+v", ge)
	}
	if err := c.RevokeSessions(ctx, demo.UserID); err != nil || sim.SessionsRevoked(demo.UserID) != 1 {
		t.Errorf("RevokeSessions: %v, revoked %d times", err, sim.SessionsRevoked(demo.UserID))
	}

	// Read every kind of role the demo user holds.
	assignments, err := c.RoleAssignments(ctx, demo.UserID)
	if err != nil {
		t.Fatalf("RoleAssignments: %v", err)
	}
	var assignedRoles []string
	for _, a := range assignments {
		if a.RoleName == "" {
			t.Errorf("assignment %s has no role name (roleDefinition not expanded)", a.ID)
		}
		assignedRoles = append(assignedRoles, a.RoleDefinitionID)
	}
	if !slices.Contains(assignedRoles, tenantsim.RoleExchangeAdministrator) || !slices.Contains(assignedRoles, demo.CustomRoleID) {
		t.Errorf("assigned roles = %v, want Exchange Administrator and the custom role", assignedRoles)
	}
	eligible, err := c.EligibleSchedules(ctx, demo.UserID)
	if err != nil || len(eligible) != 1 || eligible[0].RoleDefinitionID != tenantsim.RoleSecurityAdministrator {
		t.Fatalf("EligibleSchedules = %+v, %v", eligible, err)
	}
	groups, err := c.RoleAssignableGroups(ctx, demo.UserID)
	if err != nil || len(groups) != 1 || groups[0].ID != demo.HelpdeskGroupID {
		t.Fatalf("RoleAssignableGroups = %+v, %v", groups, err)
	}
	globalAdmins, err := c.RoleAssignmentsForRole(ctx, GlobalAdministratorTemplateID)
	if err != nil || len(globalAdmins) != 2 {
		t.Errorf("Global Administrators = %+v, %v, want 2", globalAdmins, err)
	}

	// Remove them all...
	for _, a := range assignments {
		if err := c.DeleteRoleAssignment(ctx, a.ID); err != nil {
			t.Errorf("DeleteRoleAssignment(%s): %v", a.ID, err)
		}
	}
	if err := c.RemoveEligible(ctx, eligible[0], "Tourniquet test"); err != nil {
		t.Errorf("RemoveEligible: %v", err)
	}
	if err := c.RemoveGroupMember(ctx, demo.HelpdeskGroupID, demo.UserID); err != nil {
		t.Errorf("RemoveGroupMember: %v", err)
	}
	if left := sim.RoleAssignments(demo.UserID); len(left) != 0 {
		t.Errorf("assignments left: %+v", left)
	}
	if left := sim.EligibleRoles(demo.UserID); len(left) != 0 {
		t.Errorf("eligible roles left: %+v", left)
	}
	if slices.Contains(sim.GroupMembers(demo.HelpdeskGroupID), demo.UserID) {
		t.Error("user still in the helpdesk group")
	}

	// ...and restore them, twice for the group (idempotent).
	for _, a := range assignments {
		if _, err := c.CreateRoleAssignment(ctx, a.PrincipalID, a.RoleDefinitionID, a.DirectoryScopeID); err != nil {
			t.Errorf("CreateRoleAssignment(%s): %v", a.RoleDefinitionID, err)
		}
	}
	if err := c.GrantEligible(ctx, eligible[0], "Tourniquet test restore"); err != nil {
		t.Errorf("GrantEligible: %v", err)
	}
	for range 2 {
		if err := c.AddGroupMember(ctx, demo.HelpdeskGroupID, demo.UserID); err != nil {
			t.Errorf("AddGroupMember: %v", err)
		}
	}
	if got := len(sim.RoleAssignments(demo.UserID)); got != len(assignments) {
		t.Errorf("%d assignments after restore, want %d", got, len(assignments))
	}
	if restored := sim.EligibleRoles(demo.UserID); len(restored) != 1 || restored[0].RoleDefinitionID != tenantsim.RoleSecurityAdministrator {
		t.Errorf("eligible roles after restore = %+v", restored)
	}
	if !slices.Contains(sim.GroupMembers(demo.HelpdeskGroupID), demo.UserID) {
		t.Error("user not back in the helpdesk group")
	}

	// Every Graph request carried a valid token, and listings followed nextLinks.
	listingPages := 0
	for _, r := range sim.Requests() {
		if r.Service == tenantsim.ServiceGraph && !r.Authorized {
			t.Errorf("%s %s reached the simulator without a valid token", r.Method, r.Path)
		}
		if r.Method == http.MethodGet && r.Path == "/v1.0/roleManagement/directory/roleAssignments" {
			listingPages++
		}
	}
	// Two listings (the user's two assignments, the two Global Administrators), one item a page.
	if listingPages < 4 {
		t.Errorf("roleAssignments fetched in %d pages, want at least 4", listingPages)
	}
}
