package remediation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

var disableDevices = json.RawMessage(`{"blockSignIn":{"disableDevices":true}}`)

func devicePatches(sim *tenantsim.Sim) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Method == http.MethodPatch && strings.Contains(r.Path, "/devices/") {
			n++
		}
	}
	return n
}

// block-sign-in with options.blockSignIn.disableDevices through the queues, each message
// delivered three times at once: the device is disabled once and recorded once, sealed;
// restore enables it again, once.
func TestBlockSignInDisablesDevicesOnceAndRestoresThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"block-sign-in", "revoke-sessions"}, Options: disableDevices})
	e.drain(3)
	done := e.get(run.RunID)
	st := done.Step("block-sign-in")
	if done.Status != runs.Succeeded || st.Status != runs.StepSucceeded || len(st.Changes) != 2 || st.Attempts != 1 {
		t.Fatalf("run: %s", dump(done))
	}
	for _, c := range st.Changes {
		if c.Restore == nil || c.Seal == "" {
			t.Fatalf("change recorded without a sealed restore: %+v", c)
		}
	}
	if n := devicePatches(e.sim); n != 1 {
		t.Fatalf("%d device PATCHes for three deliveries, want 1", n)
	}
	if d, _ := e.sim.GetDevice(e.demo.AttackerDeviceID); d.AccountEnabled {
		t.Fatal("the attacker's device is enabled")
	}
	// A restore that names no step gives back the account's sign-in, not the device: one
	// registered in the look-back window is likely the attacker's.
	plain, err := e.svc.Restore(context.Background(), remediation.RestoreRequest{RunID: run.RunID})
	if err != nil || len(plain.Items) != 1 || plain.Items[0].Result != "restored" || !strings.Contains(plain.Items[0].Target, e.demo.UPN) {
		t.Fatalf("restore without steps: %+v, %v", plain, err)
	}
	if d, _ := e.sim.GetDevice(e.demo.AttackerDeviceID); d.AccountEnabled {
		t.Fatal("a restore without steps enabled the device")
	}
	for i, want := range []string{"restored", "already_present"} {
		restored, err := e.svc.Restore(context.Background(), remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"block-sign-in"}})
		if err != nil || len(restored.Items) != 2 {
			t.Fatalf("restore %d: %+v, %v", i, restored, err)
		}
		for _, it := range restored.Items {
			w := want
			if !strings.Contains(it.Target, "DESKTOP-7QK2M1A") {
				w = "already_present" // the account, enabled by the restore without steps
			}
			if it.Result != w {
				t.Fatalf("restore %d: %+v, want %s", i, it, w)
			}
		}
	}
	if d, _ := e.sim.GetDevice(e.demo.AttackerDeviceID); !d.AccountEnabled {
		t.Fatal("restore did not enable the device")
	}
	for _, id := range e.demo.UserDeviceIDs {
		if d, _ := e.sim.GetDevice(id); !d.AccountEnabled {
			t.Fatal("a device the run did not disable changed")
		}
	}
}

// A device change edited in the run-record store (its restore pointed at another device,
// one an administrator disabled) enables nothing; the account's own change still restores.
func TestATamperedDeviceChangeIsNotRestored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	quarantined := e.sim.AddDevice(tenantsim.Device{DisplayName: "LOST-LAPTOP", OperatingSystem: "Windows", AccountEnabled: false,
		RegisteredUsers: []string{e.demo.ManagerID}})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"block-sign-in", "revoke-sessions"}, Options: disableDevices})
	if run.Status != runs.Succeeded {
		t.Fatalf("run: %s", dump(run))
	}
	changes := run.Step("block-sign-in").Changes
	for i, c := range changes {
		if c.Action == "device_disabled" {
			changes[i].Restore = map[string]any{"device": quarantined, "accountEnabled": true}
		}
	}
	raw, _ := json.Marshal(changes)
	e.tamper(run.RunID, "step-block-sign-in", func(m map[string]any) { m["Changes"] = string(raw) })
	restored, err := e.svc.Restore(context.Background(), remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"block-sign-in"}})
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, it := range restored.Items {
		results = append(results, it.Result)
		if strings.Contains(it.Target, "DESKTOP-7QK2M1A") && (it.Result != "failed" || it.Error == nil || it.Error.Code != string(apperr.RecordTampered)) {
			t.Fatalf("the edited device change: %+v", it)
		}
	}
	if strings.Join(results, ",") != "restored,failed" {
		t.Fatalf("restore items %v", results)
	}
	if d, _ := e.sim.GetDevice(quarantined); d.AccountEnabled {
		t.Fatal("an edited record enabled a device the run never disabled")
	}
	if d, _ := e.sim.GetDevice(e.demo.AttackerDeviceID); d.AccountEnabled {
		t.Fatal("the edited change was acted on")
	}
	if !strings.Contains(e.logs.String(), "restore refused an item whose record does not verify") {
		t.Error("the edited record was not logged")
	}
}
