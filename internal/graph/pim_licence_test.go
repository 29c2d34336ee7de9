package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

func TestTenantWithoutPIMIsRecognisedInOneRequest(t *testing.T) {
	c, sim, demo := simClient(t, 1)
	sim.SetPIMLicensed(false)
	ctx := context.Background()
	sim.ResetRequests()
	_, err := c.EligibleSchedules(ctx, demo.UserID)
	if !IsPIMUnavailable(err) {
		t.Fatalf("EligibleSchedules: %v, want AadPremiumLicenseRequired", err)
	}
	if _, err := c.ActiveSchedules(ctx, demo.UserID); !IsPIMUnavailable(err) {
		t.Fatalf("ActiveSchedules: %v, want AadPremiumLicenseRequired", err)
	}
	pim := 0
	for _, r := range sim.Requests() {
		if strings.Contains(r.Path, "Schedules") {
			pim++
		}
	}
	// The licence answer is final: no second listing without $expand.
	if pim != 2 {
		t.Errorf("%d schedule listings sent, want 2", pim)
	}
}

func TestGroupUsersListsMembersWithAccountEnabled(t *testing.T) {
	c, sim, demo := simClient(t, 1) // one per page: paging is followed
	ctx := context.Background()
	const disabled = "12121212-1212-4121-8121-121212121212"
	sim.AddUser(tenantsim.User{ID: disabled, UserPrincipalName: "gone@contoso.example", AccountEnabled: false})
	sim.AddGroupMember(demo.HelpdeskGroupID, disabled)
	members, err := c.GroupUsers(ctx, demo.HelpdeskGroupID)
	if err != nil {
		t.Fatal(err)
	}
	enabled := map[string]bool{}
	for _, m := range members {
		enabled[m.ID] = m.AccountEnabled
	}
	if len(members) != 3 || !enabled[demo.UserID] || !enabled[demo.ManagerID] || enabled[disabled] {
		t.Errorf("members %+v", members)
	}
	if _, err := c.GroupUsers(ctx, "34343434-3434-4343-8343-343434343434"); !IsNotFound(err) {
		t.Errorf("unknown group: %v, want not found", err)
	}
	if _, err := c.GroupUsers(ctx, "x' or 1 eq 1"); err == nil {
		t.Error("an invalid group id reached the request")
	}
}
