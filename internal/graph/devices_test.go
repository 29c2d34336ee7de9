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

// UserDevices reads every page of both listings and names each device once; the device
// calls answer Graph's errors as *Error.
func TestUserDevicesAgainstTheSimulator(t *testing.T) {
	ctx := context.Background()
	c, sim, demo := simClient(t, 1) // one device per page
	onlyOwned := sim.AddDevice(tenantsim.Device{DisplayName: "OWNED-ONLY", OperatingSystem: "Windows", AccountEnabled: true,
		Registered: time.Now().Add(-time.Hour), Owners: []string{demo.UserID}})
	got, err := c.UserDevices(ctx, demo.UserID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range got {
		ids = append(ids, d.ID)
		if d.ID == demo.AttackerDeviceID && (d.DisplayName != "DESKTOP-7QK2M1A" || d.OperatingSystem != "Windows" || !d.AccountEnabled ||
			d.Registered == nil || d.LastSignIn == nil || d.DeviceID == "" || d.TrustType != "Workplace" || d.Limited) {
			t.Errorf("attacker's device read as %+v", d)
		}
	}
	want := append(slices.Clone(demo.UserDeviceIDs), demo.AttackerDeviceID, onlyOwned)
	if len(ids) != len(want) {
		t.Fatalf("devices %v, want each of %v once", ids, want)
	}
	for _, id := range want {
		if !slices.Contains(ids, id) {
			t.Fatalf("devices %v miss %s", ids, id)
		}
	}

	if err := c.SetDeviceEnabled(ctx, demo.AttackerDeviceID, false); err != nil {
		t.Fatal(err)
	}
	if d, err := c.GetDevice(ctx, demo.AttackerDeviceID); err != nil || d.AccountEnabled {
		t.Fatalf("after disabling: %+v, %v", d, err)
	}
	var ge *Error
	err = c.SetDeviceEnabled(ctx, demo.UserDeviceIDs[1], false) // the iPhone
	if !errors.As(err, &ge) || ge.Status != http.StatusBadRequest || !strings.Contains(ge.Message, "windows devices") {
		t.Fatalf("non-Windows device: %v", err)
	}
	if err := c.SetDeviceEnabled(ctx, "not-a-guid/../users", false); err == nil {
		t.Fatal("an invalid device id reached a URL")
	}
	sim.SetIdentityRoles("graph", []string{"User.Read.All"})
	if err := c.SetDeviceEnabled(ctx, demo.AttackerDeviceID, true); !IsForbidden(err) {
		t.Fatalf("without Device.ReadWrite.All: %v", err)
	}
	limited, err := c.UserDevices(ctx, demo.UserID)
	if err != nil || len(limited) != len(want) || !limited[0].Limited || limited[0].DisplayName != "" {
		t.Fatalf("limited listing: %+v, %v", limited, err)
	}
}
