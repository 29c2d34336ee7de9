package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// The three Graph-side containment steps through the real handler and the host emulator:
// a dry run changes nothing, an async run through the step queues acts and records, a
// second run finds nothing to do, and restore brings back exactly the sign-in and the
// consent this run took away, once.
func TestGraphContainmentStepsThroughTheHost(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	h := s.host
	containment := []string{"block-sign-in", "remove-mfa-methods", "revoke-app-consents", "revoke-sessions"}
	grantBefore := s.sim.PermissionGrants(s.demo.UserID)
	methodsBefore := len(s.sim.AuthMethods(s.demo.UserID))
	writes := func() int {
		n := 0
		for _, r := range s.sim.Requests() {
			if r.Service == tenantsim.ServiceGraph && r.Method != http.MethodGet {
				n++
			}
		}
		return n
	}

	// A dry run plans every step and writes nothing.
	var planned runs.Run
	call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "mode": "sync", "dryRun": true, "steps": containment}).json(t, &planned)
	for _, name := range containment[:3] {
		if st := planned.Step(name); st == nil || st.Status != runs.StepPlanned || len(st.Changes) == 0 {
			t.Fatalf("dry run %s: %+v", name, st)
		}
	}
	if n := writes(); n != 0 {
		t.Fatalf("a dry run wrote %d times to the directory", n)
	}

	// The real run, through the step queues.
	var run runs.Run
	r := call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "reason": "INC-11 containment", "steps": containment})
	r.json(t, &run)
	if r.status != 202 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	s.waitIdle()
	call(t, h, "GET", "/api/remediations/"+run.RunID, nil).json(t, &run)
	if run.Status != runs.Succeeded {
		t.Fatalf("run %s: %+v\n%s", run.Status, run.Steps, s.output.String())
	}
	if u, _ := s.sim.User(s.demo.UserID); u.AccountEnabled {
		t.Fatal("sign-in not blocked")
	}
	if left := s.sim.AuthMethods(s.demo.UserID); len(left) != 0 {
		t.Fatalf("methods left %+v", left)
	}
	if left := s.sim.PermissionGrants(s.demo.UserID); len(left) != 0 {
		t.Fatalf("grants left %+v", left)
	}
	mfa := run.Step("remove-mfa-methods")
	if len(mfa.Changes) != methodsBefore || !strings.Contains(mfa.Changes[len(mfa.Changes)-1].Target, "phone") {
		t.Fatalf("mfa changes %+v", mfa.Changes)
	}
	for _, c := range mfa.Changes {
		if c.Restore != nil || c.Before == nil {
			t.Errorf("mfa change %+v: recorded without its details, or as restorable", c)
		}
	}
	// The default phone went last, so Graph refused nothing.
	for _, req := range s.sim.Requests() {
		if req.Method == http.MethodDelete && strings.Contains(req.Path, "/authentication/") && req.Status != http.StatusNoContent {
			t.Errorf("%s answered %d", req.Path, req.Status)
		}
	}
	consent := run.Step("revoke-app-consents")
	if len(consent.Changes) != 1 || consent.Changes[0].Restore == nil || consent.Changes[0].Seal == "" {
		t.Fatalf("consent changes %+v", consent.Changes)
	}
	if len(s.sim.PermissionGrants("")) != 2 {
		t.Fatal("a grant that was not the user's own went")
	}

	// A second run finds an already contained account.
	var second runs.Run
	call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "mode": "sync", "steps": containment[:3]}).json(t, &second)
	for _, name := range containment[:3] {
		if st := second.Step(name); st == nil || st.Status != runs.StepNoChange || len(st.Changes) != 0 {
			t.Fatalf("second run %s: %+v", name, st)
		}
	}

	// Restore (the account was secured: block-sign-in and revoke-sessions succeeded). The
	// app consent comes back only when named.
	for i, want := range []string{"restored", "already_present"} {
		var restored remediation.Restored
		r = call(t, h, "POST", "/api/remediations/"+run.RunID+"/restore", map[string]any{"steps": []string{"block-sign-in", "revoke-app-consents"}})
		r.json(t, &restored)
		if r.status != 200 || len(restored.Items) != 2 {
			t.Fatalf("restore %d: %d %s", i, r.status, r.body)
		}
		var steps []string
		for _, it := range restored.Items {
			steps = append(steps, it.Step)
			if it.Result != want {
				t.Errorf("restore %d item %+v, want %s", i, it, want)
			}
		}
		if !slices.Equal(steps, []string{"block-sign-in", "revoke-app-consents"}) {
			t.Errorf("restore %d items for %v", i, steps)
		}
	}
	if u, _ := s.sim.User(s.demo.UserID); !u.AccountEnabled {
		t.Fatal("sign-in not allowed again")
	}
	if got := s.sim.PermissionGrants(s.demo.UserID); !slices.Equal(got, grantBefore) {
		t.Fatalf("grants after restore %+v, want %+v", got, grantBefore)
	}
	if len(s.sim.AuthMethods(s.demo.UserID)) != 0 {
		t.Fatal("restore brought MFA methods back")
	}

	// The second run disabled nothing, so its restore enables nothing: an account someone
	// disabled since stays disabled.
	u, _ := s.sim.User(s.demo.UserID)
	u.AccountEnabled = false
	s.sim.AddUser(u)
	var none remediation.Restored
	call(t, h, "POST", "/api/remediations/"+second.RunID+"/restore", map[string]any{"force": true, "reason": "test: nothing to undo"}).json(t, &none)
	if len(none.Items) != 0 {
		t.Fatalf("restore of a run that changed nothing: %+v", none.Items)
	}
	if u, _ := s.sim.User(s.demo.UserID); u.AccountEnabled {
		t.Fatal("a run that did not disable the account enabled it")
	}

	// block-sign-in with options.blockSignIn.disableDevices, one step through HTTP, on the
	// account disabled above: nothing to change for the account, the device the attacker
	// registered is disabled and recorded, the user's own devices are left; a misspelt option
	// is refused before anything runs.
	var withDevices runs.Run
	r = call(t, h, "POST", "/api/steps/block-sign-in", map[string]any{"user": s.demo.UPN, "reason": "INC-11 devices",
		"options": map[string]any{"blockSignIn": map[string]any{"disableDevices": true}}})
	r.json(t, &withDevices)
	if r.status != 200 || withDevices.Steps[0].Status != runs.StepSucceeded || len(withDevices.Steps[0].Changes) != 1 ||
		withDevices.Steps[0].Changes[0].Action != "device_disabled" || withDevices.Steps[0].Changes[0].Seal == "" ||
		!strings.Contains(withDevices.Steps[0].Message, "already blocked") {
		t.Fatalf("block-sign-in with devices: %d %s", r.status, r.body)
	}
	if d, _ := s.sim.GetDevice(s.demo.AttackerDeviceID); d.AccountEnabled {
		t.Fatal("the attacker's device is enabled")
	}
	for _, id := range s.demo.UserDeviceIDs {
		if d, _ := s.sim.GetDevice(id); !d.AccountEnabled {
			t.Fatal("the user's own device was disabled")
		}
	}
	if r = call(t, h, "POST", "/api/steps/block-sign-in", map[string]any{"user": s.demo.UPN,
		"options": map[string]any{"blockSignIn": map[string]any{"disableDevice": true}}}); r.status != 400 {
		t.Fatalf("a misspelt option: %d %s", r.status, r.body)
	}

	// A synced user's sign-in is blocked on-premises.
	var synced runs.Run
	call(t, h, "POST", "/api/steps/block-sign-in", map[string]any{"user": s.demo.SyncedUPN}).json(t, &synced)
	if synced.Status != runs.ActionRequired || synced.Steps[0].Status != runs.StepActionRequired || !strings.Contains(synced.Steps[0].Message, "on-premises") {
		t.Fatalf("synced user: %+v", synced)
	}
	if u, _ := s.sim.User(s.demo.SyncedUserID); !u.AccountEnabled {
		t.Fatal("the synced user was changed from the cloud")
	}
}
