package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/server"
)

// principal encodes an X-MS-CLIENT-PRINCIPAL document holding these app roles, the way App
// Service authentication does (role claims typed as role_typ names).
func principal(t *testing.T, roles ...string) string {
	t.Helper()
	const roleType = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
	claims := []map[string]string{{"typ": "name", "val": "soc-playbook"}}
	for _, r := range roles {
		claims = append(claims, map[string]string{"typ": roleType, "val": r})
	}
	doc, err := json.Marshal(map[string]any{"auth_typ": "aad", "name_typ": "name", "role_typ": roleType, "claims": claims})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(doc)
}

func TestEasyAuthWithoutAppServiceAuthenticationDoesNotStart(t *testing.T) {
	t.Parallel()
	for _, enabled := range []string{"", "False", "0"} {
		env := map[string]string{"AUTH_MODE": "easyauth", "WEBSITE_AUTH_ENABLED": enabled, "AzureWebJobsStorage": "UseDevelopmentStorage=true", "AZURE_TENANT_ID": "t"}
		var out bytes.Buffer
		err := run(context.Background(), nil, func(k string) string { return env[k] }, &out)
		if err == nil || !strings.Contains(err.Error(), "WEBSITE_AUTH_ENABLED") {
			t.Fatalf("WEBSITE_AUTH_ENABLED=%q: %v", enabled, err)
		}
	}
}

func TestRestoreThroughTheHostNeedsASecuredAccountOrAForcedReason(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	const key = "a-function-key-for-the-soc-lead"
	r := call(t, s.host, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "mode": "sync", "steps": []string{"remove-admin-roles"}}, "x-functions-key", key)
	var run runs.Run
	r.json(t, &run)
	if r.status != 200 || run.Status != runs.Succeeded || run.RequestedBy != "functionkey:"+server.KeyFingerprint(key) {
		t.Fatalf("start: %d %s requestedBy %q", r.status, run.Status, run.RequestedBy)
	}
	if strings.Contains(string(r.body), key) {
		t.Fatal("the function key is in the run document")
	}
	for _, path := range []string{"/restore", "/restore-admin-roles"} {
		r = call(t, s.host, "POST", "/api/remediations/"+run.RunID+path, nil)
		if r.status != 409 || !strings.Contains(string(r.body), `"account_not_secured"`) {
			t.Fatalf("%s before the account is secured: %d %s", path, r.status, r.body)
		}
		r = call(t, s.host, "POST", "/api/remediations/"+run.RunID+path, map[string]any{"force": true})
		if r.status != 400 {
			t.Fatalf("%s force without a reason: %d %s", path, r.status, r.body)
		}
	}
	if n := len(s.sim.RoleAssignments(s.demo.UserID)); n != 0 {
		t.Fatalf("a refused restore granted %d roles", n)
	}
	r = call(t, s.host, "POST", "/api/remediations/"+run.RunID+"/restore", map[string]any{"force": true, "reason": "INC-4711 false positive", "steps": []string{"remove-admin-roles"}})
	var restored remediation.Restored
	r.json(t, &restored)
	if r.status != 200 || restored.RunID != run.RunID || len(restored.Items) == 0 {
		t.Fatalf("forced restore: %d %s", r.status, r.body)
	}
	for _, it := range restored.Items {
		if it.Step != "remove-admin-roles" || it.Result != "restored" {
			t.Errorf("item %+v", it)
		}
	}
	if len(s.sim.RoleAssignments(s.demo.UserID)) == 0 {
		t.Fatal("nothing restored")
	}
	// The list is its own function on the same route (GET), and shows the forced restore.
	r = call(t, s.host, "GET", "/api/remediations?user="+s.demo.UserID, nil)
	var list []runs.Run
	r.json(t, &list)
	if r.status != 200 || len(list) != 1 || len(list[0].Restorations) != 1 || !list[0].Restorations[0].Force || list[0].Restorations[0].Reason != "INC-4711 false positive" {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	// restore-admin-roles answers the run document, as before.
	r = call(t, s.host, "POST", "/api/remediations/"+run.RunID+"/restore-admin-roles", map[string]any{"force": true, "reason": "again"})
	var doc runs.Run
	r.json(t, &doc)
	if r.status != 200 || doc.RunID != run.RunID || len(doc.Restorations) != 2 {
		t.Fatalf("restore-admin-roles: %d %s", r.status, r.body)
	}
}
