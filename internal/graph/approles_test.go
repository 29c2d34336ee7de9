package graph

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// Consents an administrator makes: tenant-wide grants and app role assignments, listed,
// deleted and created again through the real client, and the audit records that name them.
func TestAdminConsentsAgainstTenantSimulator(t *testing.T) {
	c, sim, demo := simClient(t, 1) // one item a page: every listing pages
	ctx := context.Background()
	const (
		attackerApp = "7a7a7a7a-0000-4000-8000-00000000a77a"
		mailRead    = "810c84a8-4a9e-49e6-bf7d-12d183f40d01" // Microsoft Graph's Mail.Read app role
	)
	sim.NameServicePrincipal(attackerApp, "0f0f0f0f-1111-4222-8333-444455556666", "Backup Helper")
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	grantID := sim.ConsentForTenant(demo.UserID, attackerApp, demo.GraphResourceID, "Mail.Read Files.Read.All", at, "203.0.113.9")
	assignmentID := sim.AssignAppRoleAs(demo.UserID, tenantsim.AppRoleAssignment{AppRoleID: mailRead, PrincipalID: attackerApp, ResourceID: demo.GraphResourceID, Created: at}, "203.0.113.9")

	grants, err := c.PermissionGrantsForClient(ctx, attackerApp)
	if err != nil || len(grants) != 1 || grants[0].ID != grantID || grants[0].ConsentType != ConsentAllPrincipals || grants[0].PrincipalID != "" {
		t.Fatalf("PermissionGrantsForClient = %+v, %v", grants, err)
	}

	held, err := c.AppRoleAssignmentsOf(ctx, attackerApp)
	if err != nil || len(held) != 1 {
		t.Fatalf("AppRoleAssignmentsOf = %+v, %v", held, err)
	}
	a := held[0]
	if a.ID != assignmentID || a.AppRoleID != mailRead || a.PrincipalType != "ServicePrincipal" || a.ResourceID != demo.GraphResourceID ||
		a.ResourceName != "Microsoft Graph" || a.PrincipalName != "Backup Helper" || !a.Created.Equal(at) {
		t.Fatalf("assignment = %+v", a)
	}
	onGraph, err := c.AppRoleAssignedTo(ctx, demo.GraphResourceID)
	if err != nil || !slices.ContainsFunc(onGraph, func(x AppRoleAssignment) bool { return x.ID == assignmentID }) {
		t.Fatalf("AppRoleAssignedTo = %+v, %v", onGraph, err)
	}

	// The audit records of the user's activities name the objects.
	audits, err := c.AuditsInitiatedBy(ctx, demo.UserID, at.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var activities []string
	for _, r := range audits {
		activities = append(activities, r.Activity)
		if r.Activity == "Consent to application" && (r.Resources[0].ID != attackerApp || r.Resources[0].Modified["ConsentContext.OnBehalfOfAll"] != "True") {
			t.Errorf("consent record %+v", r.Resources)
		}
		if r.Activity == "Add app role assignment to service principal" &&
			(len(r.Resources) != 2 || r.Resources[1].ID != attackerApp || r.Resources[0].Modified["AppRole.Id"] != mailRead) {
			t.Errorf("app role record %+v", r.Resources)
		}
	}
	slices.Sort(activities)
	if want := []string{"Add app role assignment to service principal", "Add delegated permission grant", "Consent to application"}; !slices.Equal(activities, want) {
		t.Errorf("activities %v, want %v", activities, want)
	}
	for _, r := range sim.Requests() {
		if r.Path == "/v1.0/auditLogs/directoryAudits" && r.RawQuery != "" && !strings.Contains(r.RawQuery, "initiatedBy") {
			t.Errorf("audit query without the initiator: %s", r.RawQuery)
		}
	}

	if err := c.DeleteAppRoleAssignedTo(ctx, demo.GraphResourceID, assignmentID); err != nil {
		t.Fatalf("DeleteAppRoleAssignedTo: %v", err)
	}
	if err := c.DeleteAppRoleAssignedTo(ctx, demo.GraphResourceID, assignmentID); !IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
	id, err := c.CreateAppRoleAssignedTo(ctx, AppRoleAssignment{PrincipalID: attackerApp, ResourceID: demo.GraphResourceID, AppRoleID: mailRead})
	if err != nil || id == "" {
		t.Fatalf("CreateAppRoleAssignedTo = %q, %v", id, err)
	}
	_, err = c.CreateAppRoleAssignedTo(ctx, AppRoleAssignment{PrincipalID: attackerApp, ResourceID: demo.GraphResourceID, AppRoleID: mailRead})
	if ge := asGraphError(t, err); ge.Status != http.StatusBadRequest {
		t.Errorf("duplicate assignment: %+v", ge)
	}
	if err := c.DeleteAppRoleAssignedTo(ctx, "../users", id); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad resource id: %v", err)
	}
	if _, err := c.AppRoleAssignmentsOf(ctx, "x"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad service principal: %v", err)
	}
}
