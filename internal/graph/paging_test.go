package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// A large tenant: 1,000 holders of one role and a user with 120 assignments are listed
// whole at Graph's default page size (100), following the absolute @odata.nextLink.
func TestThousandRoleAssignmentsAreListedWholeAtTheRealPageSize(t *testing.T) {
	c, sim, demo := simClient(t, 100)
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		sim.AssignRole(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), tenantsim.RoleGlobalReader, "/")
	}
	for i := 0; i < 120; i++ {
		sim.AssignRole(demo.UserID, tenantsim.RoleHelpdeskAdministrator, fmt.Sprintf("/administrativeUnits/00000000-0000-4000-9000-%012d", i))
	}
	before := len(sim.Requests())

	holders, err := c.RoleAssignmentsForRole(ctx, tenantsim.RoleGlobalReader)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range holders {
		seen[a.PrincipalID] = true
	}
	if len(holders) != 1000 || len(seen) != 1000 {
		t.Fatalf("%d assignments of %d principals, want 1000 of 1000", len(holders), len(seen))
	}
	if pages := countGraphRequests(sim.Requests()[before:], "roleAssignments"); pages != 10 {
		t.Errorf("%d requests for 1000 assignments at 100 a page, want 10", pages)
	}

	mine, err := c.RoleAssignments(ctx, demo.UserID)
	if err != nil {
		t.Fatal(err)
	}
	scoped := 0
	for _, a := range mine {
		if strings.HasPrefix(a.DirectoryScopeID, "/administrativeUnits/") {
			scoped++
		}
	}
	if scoped != 120 {
		t.Errorf("%d administrative-unit assignments listed, want 120", scoped)
	}
}

func countGraphRequests(reqs []tenantsim.Request, pathPart string) int {
	n := 0
	for _, r := range reqs {
		if r.Service == "graph" && strings.Contains(r.Path, pathPart) {
			n++
		}
	}
	return n
}
