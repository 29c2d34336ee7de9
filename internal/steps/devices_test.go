package steps

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

var withDevices = Options{BlockSignIn: BlockSignInOptions{DisableDevices: true}}

func deviceEnabled(t *testing.T, sim *tenantsim.Sim, id string) bool {
	t.Helper()
	d, ok := sim.GetDevice(id)
	if !ok {
		t.Fatalf("device %s is gone", id)
	}
	return d.AccountEnabled
}

func deviceChanges(out Outcome) []runs.Change {
	var got []runs.Change
	for _, c := range out.Changes {
		if c.Action == actionDeviceDisabled {
			got = append(got, c)
		}
	}
	return got
}

// block-sign-in with options.blockSignIn.disableDevices, through the real Graph client
// against the simulator (whose pages hold 2 items, so the demo user's three devices come
// in two pages of registeredDevices and two of ownedDevices, each device once).
func TestBlockSignInDisablesDevices(t *testing.T) {
	ctx := context.Background()
	t.Run("disables the device registered in the window, records it first, restore enables it once", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		rec := &recorder{sim: sim}
		target := Target{ID: demo.UserID, UPN: demo.UPN}
		out := r.Run(ctx, BlockSignIn, Input{Target: target, Options: withDevices, Record: rec.record})
		devs := deviceChanges(out)
		if out.Status != runs.StepSucceeded || len(out.Changes) != 2 || len(devs) != 1 {
			t.Fatalf("outcome %+v", out)
		}
		c := devs[0]
		before, _ := c.Before.(map[string]any)
		after, _ := c.After.(map[string]any)
		if !strings.Contains(c.Target, "DESKTOP-7QK2M1A") || !strings.Contains(c.Target, demo.AttackerDeviceID) ||
			before["operatingSystem"] != "Windows" || before["accountEnabled"] != true || after["accountEnabled"] != false ||
			before["deviceId"] == "" || c.Restore == nil {
			t.Fatalf("device change %+v", c)
		}
		if deviceEnabled(t, sim, demo.AttackerDeviceID) {
			t.Fatal("the attacker's device is still enabled")
		}
		for _, id := range demo.UserDeviceIDs {
			if !deviceEnabled(t, sim, id) {
				t.Fatalf("the user's old device %s was disabled", id)
			}
		}
		if len(rec.evidence) != 2 || rec.writes != 0 {
			t.Fatalf("evidence %+v recorded after %d writes", rec.evidence, rec.writes)
		}
		if !strings.Contains(out.Message, "2 device(s) registered before the look-back window were left enabled") {
			t.Errorf("message %q does not say the older devices were left", out.Message)
		}
		// Each device was read once, however many listings named it.
		patches := 0
		for _, req := range sim.Requests() {
			if req.Method == http.MethodPatch && strings.Contains(req.Path, "/devices/") {
				patches++
			}
		}
		if patches != 1 {
			t.Fatalf("%d device PATCHes, want 1", patches)
		}

		// A second run: the account and the device are already disabled, nothing recorded.
		again := r.Run(ctx, BlockSignIn, Input{Target: target, Options: withDevices})
		if again.Status != runs.StepNoChange || len(again.Changes) != 0 || !strings.Contains(again.Message, "already disabled") {
			t.Fatalf("second run %+v", again)
		}

		user := runs.UserRef{ID: demo.UserID, UserPrincipalName: demo.UPN}
		for i, want := range []string{"restored", "already_present"} {
			got, err := r.Restore(ctx, BlockSignIn, user, c, "test")
			if err != nil || len(got) != 1 || got[0].Action != want {
				t.Fatalf("restore %d = %+v, %v; want %s", i, got, err, want)
			}
			if !deviceEnabled(t, sim, demo.AttackerDeviceID) {
				t.Fatalf("restore %d: device still disabled", i)
			}
		}
		// The device's restore did not touch the account; the account's did not touch devices.
		if u, _ := sim.User(demo.UserID); u.AccountEnabled {
			t.Fatal("restoring the device enabled the account")
		}
	})
	t.Run("dry run plans the account and the device and writes nothing", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, DryRun: true, Options: withDevices,
			Record: func(context.Context, []runs.Change) error { t.Error("a dry run recorded evidence"); return nil }})
		if out.Status != runs.StepPlanned || len(out.Changes) != 2 || len(deviceChanges(out)) != 1 || tenantWrites(sim) != 0 {
			t.Fatalf("dry run %+v, %d writes", out, tenantWrites(sim))
		}
		if !deviceEnabled(t, sim, demo.AttackerDeviceID) {
			t.Fatal("a dry run disabled a device")
		}
	})
	t.Run("without the option no device is read or changed", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}})
		if out.Status != runs.StepSucceeded || len(out.Changes) != 1 || !deviceEnabled(t, sim, demo.AttackerDeviceID) {
			t.Fatalf("outcome %+v", out)
		}
		for _, req := range sim.Requests() {
			if strings.Contains(strings.ToLower(req.Path), "devices") {
				t.Fatalf("device call without the option: %s %s", req.Method, req.Path)
			}
		}
	})
	t.Run("an undated device and a non-Windows device are named and left; action_required", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		mine := []string{demo.UserID}
		undated := sim.AddDevice(tenantsim.Device{DisplayName: "WIN-NODATE", OperatingSystem: "Windows", AccountEnabled: true, RegisteredUsers: mine})
		android := sim.AddDevice(tenantsim.Device{DisplayName: "Galaxy S21", OperatingSystem: "Android", OSVersion: "14", AccountEnabled: true,
			Registered: time.Now().Add(-time.Hour), Owners: mine})
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: withDevices})
		if out.Status != runs.StepActionRequired || len(deviceChanges(out)) != 1 || deviceEnabled(t, sim, demo.AttackerDeviceID) {
			t.Fatalf("outcome %+v", out)
		}
		for _, want := range []string{"WIN-NODATE (Windows) [" + undated + "]", "registrationDateTime is null", "Galaxy S21 (Android 14) [" + android + "]", "Windows devices only"} {
			if !strings.Contains(out.Message, want) {
				t.Errorf("message %q does not say %q", out.Message, want)
			}
		}
		if !deviceEnabled(t, sim, undated) || !deviceEnabled(t, sim, android) {
			t.Fatal("an undated or non-Windows device was changed")
		}
		if u, _ := sim.User(demo.UserID); u.AccountEnabled {
			t.Fatal("sign-in not blocked")
		}
	})
	t.Run("Graph's refusal of a non-Windows device is understood", func(t *testing.T) {
		// A device whose operating system says Windows in another spelling is tried; Graph
		// answers 400 for anything it does not take for Windows, and the step names it.
		r, sim, demo := simRunner(t)
		odd := sim.AddDevice(tenantsim.Device{DisplayName: "Surface Duo", OperatingSystem: "Windows Phone", AccountEnabled: true,
			Registered: time.Now().Add(-time.Hour), RegisteredUsers: []string{demo.UserID}})
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: withDevices})
		if out.Status != runs.StepActionRequired || !strings.Contains(out.Message, "Surface Duo") || !deviceEnabled(t, sim, odd) ||
			len(deviceChanges(out)) != 1 || out.Error != nil {
			t.Fatalf("outcome %+v", out)
		}
		refused := slices.ContainsFunc(sim.Requests(), func(req tenantsim.Request) bool {
			return req.Method == http.MethodPatch && strings.HasSuffix(req.Path, odd) && req.Status == http.StatusBadRequest
		})
		if !refused {
			t.Fatal("the device was not tried")
		}
	})
	t.Run("a hybrid-joined device is left to on-premises AD", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		hybrid := sim.AddDevice(tenantsim.Device{DisplayName: "CONTOSO-WS042", OperatingSystem: "Windows", TrustType: "ServerAd", AccountEnabled: true,
			Registered: time.Now().Add(-time.Hour), RegisteredUsers: []string{demo.UserID}})
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: withDevices})
		if out.Status != runs.StepActionRequired || out.Error != nil || len(deviceChanges(out)) != 1 ||
			!strings.Contains(out.Message, "CONTOSO-WS042") || !strings.Contains(out.Message, "on-premises AD") || !deviceEnabled(t, sim, hybrid) {
			t.Fatalf("outcome %+v", out)
		}
	})
	t.Run("without Device.ReadWrite.All: the account is blocked, the step says what to grant", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		sim.SetIdentityRoles("graph", slices.DeleteFunc(slices.Clone(tenantsim.DefaultGraphRoles), func(r string) bool { return r == "Device.ReadWrite.All" }))
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: withDevices})
		if out.Status != runs.StepActionRequired || out.Error == nil || out.Error.Code != "Authorization_RequestDenied" ||
			!strings.Contains(out.Error.Message, "Device.ReadWrite.All") || len(out.Changes) != 1 || out.Changes[0].Action != "sign_in_blocked" {
			t.Fatalf("outcome %+v", out)
		}
		if !deviceEnabled(t, sim, demo.AttackerDeviceID) {
			t.Fatal("a device was disabled without the permission")
		}
		if u, _ := sim.User(demo.UserID); u.AccountEnabled {
			t.Fatal("sign-in not blocked")
		}
	})
	t.Run("an identity that may not read devices gets ids only: named, nothing disabled", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		sim.SetIdentityRoles("graph", slices.DeleteFunc(slices.Clone(tenantsim.DefaultGraphRoles), func(r string) bool {
			return r == "Device.ReadWrite.All" || r == "Directory.Read.All"
		}))
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: withDevices})
		if out.Status != runs.StepActionRequired || len(deviceChanges(out)) != 0 || !strings.Contains(out.Message, demo.AttackerDeviceID) ||
			!strings.Contains(out.Message, "grant Device.ReadWrite.All") {
			t.Fatalf("outcome %+v", out)
		}
	})
	t.Run("the last Global Administrator's devices are left with the account", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		sim.AddDevice(tenantsim.Device{DisplayName: "MEGAN-NEW", OperatingSystem: "Windows", AccountEnabled: true,
			Registered: time.Now().Add(-time.Hour), RegisteredUsers: []string{demo.GlobalAdminID}})
		bg, _ := sim.User(demo.BreakGlassID)
		bg.AccountEnabled = false
		sim.AddUser(bg)
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.GlobalAdminID, UPN: demo.GlobalAdminUPN}, Options: withDevices})
		if out.Status != runs.StepActionRequired || len(out.Changes) != 0 || !strings.Contains(out.Message, "devices were left enabled") || tenantWrites(sim) != 0 {
			t.Fatalf("outcome %+v", out)
		}
	})
}

func TestParseBlockSignInOptions(t *testing.T) {
	o, err := ParseOptions([]byte(`{"blockSignIn":{"disableDevices":true}}`))
	if err != nil || !o.BlockSignIn.DisableDevices {
		t.Fatalf("%+v, %v", o, err)
	}
	if _, err := ParseOptions([]byte(`{"blockSignIn":{"disableDevice":true}}`)); err == nil {
		t.Fatal("a misspelt option was accepted")
	}
}
