package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/server"
)

// easyAuthHeaders are the headers App Service authentication sets for a principal holding
// these app roles.
func easyAuthHeaders(t *testing.T, id, name string, roles ...string) []string {
	t.Helper()
	const roleType = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
	claims := []map[string]string{{"typ": "name", "val": name}}
	for _, r := range roles {
		claims = append(claims, map[string]string{"typ": roleType, "val": r})
	}
	doc, err := json.Marshal(map[string]any{"auth_typ": "aad", "name_typ": "name", "role_typ": roleType, "claims": claims})
	if err != nil {
		t.Fatal(err)
	}
	return []string{"X-MS-CLIENT-PRINCIPAL-ID", id, "X-MS-CLIENT-PRINCIPAL-NAME", name, "X-MS-CLIENT-PRINCIPAL", base64.StdEncoding.EncodeToString(doc)}
}

func TestApprovalThroughTheHostUnderEasyAuth(t *testing.T) {
	t.Parallel()
	s := startStack(t, "AUTH_MODE=easyauth", "WEBSITE_AUTH_ENABLED=True", "APPROVAL_MODE=admins")
	h := s.host
	alice := easyAuthHeaders(t, "a11ce000-0000-4000-8000-000000000001", "alice@contoso.example", "Tourniquet.Read", "Tourniquet.Remediate", "Tourniquet.Approve")
	bob := easyAuthHeaders(t, "b0b00000-0000-4000-8000-000000000002", "bob@contoso.example", "Tourniquet.Read", "Tourniquet.Approve")
	carol := easyAuthHeaders(t, "ca401000-0000-4000-8000-000000000003", "carol@contoso.example", "Tourniquet.Read", "Tourniquet.Remediate")

	// A sync request for an administrator waits: 202, the run document, a Location.
	r := call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "mode": "sync", "reason": "INC-9"}, alice...)
	var run runs.Run
	r.json(t, &run)
	if r.status != 202 || r.header.Get("Location") != "/api/remediations/"+run.RunID || run.Status != runs.AwaitingApproval {
		t.Fatalf("sync start for an admin: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	var raw struct {
		Approval map[string]any `json:"approval"`
	}
	r.json(t, &raw)
	for _, k := range []string{"required", "decidedBy", "decidedAt", "decision", "reason"} {
		if _, ok := raw.Approval[k]; !ok {
			t.Errorf("approval has no %q: %s", k, r.body)
		}
	}
	if raw.Approval["required"] != true || raw.Approval["decision"] != nil || raw.Approval["decidedBy"] != nil {
		t.Errorf("approval of a waiting run: %v", raw.Approval)
	}
	s.waitIdle()
	if n := len(s.sim.PasswordResets(s.demo.UserID)); n != 0 || s.sim.Mailbox(s.demo.UPN).ForwardingSmtpAddress == "" {
		t.Fatalf("the tenant changed while the run waited (%d resets)", n)
	}

	// The requester cannot approve, nor can a principal without Tourniquet.Approve.
	if r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", map[string]any{"reason": "mine"}, alice...); r.status != 403 || !strings.Contains(string(r.body), `"same_principal"`) {
		t.Fatalf("requester approves: %d %s", r.status, r.body)
	}
	if r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", nil, carol...); r.status != 403 || !strings.Contains(string(r.body), `"forbidden"`) {
		t.Fatalf("approve without the app role: %d %s", r.status, r.body)
	}

	// Bob approves: 202, and the run goes through the step queues to the end.
	r = call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", map[string]any{"reason": "called the user"}, bob...)
	r.json(t, &run)
	if r.status != 202 || run.Approval.Decision != runs.Approved || run.Approval.DecidedBy != "bob@contoso.example" {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	s.waitIdle()
	call(t, h, "GET", "/api/remediations/"+run.RunID, nil, bob...).json(t, &run)
	if run.Status != runs.Succeeded || len(s.sim.PasswordResets(s.demo.UserID)) != 1 || len(s.sim.RoleAssignments(s.demo.UserID)) != 0 {
		t.Fatalf("approved run: %s %+v\n%s", run.Status, run.Steps, s.output.String())
	}
	if run.Approval.Reason != "called the user" || run.Approval.DecidedAt == nil {
		t.Errorf("approval record: %+v", run.Approval)
	}
	queued := 0
	for _, inv := range h.Invocations() {
		if strings.HasPrefix(inv.Function, "queue-step-") {
			queued++
		}
	}
	if queued < len(run.Steps) {
		t.Errorf("%d step deliveries through the queues for %d steps", queued, len(run.Steps))
	}
	if r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", nil, bob...); r.status != 409 || !strings.Contains(string(r.body), `"not_awaiting_approval"`) {
		t.Fatalf("approve twice: %d %s", r.status, r.body)
	}

	// Reject: 200 and the final run.
	r = call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.ManagerUPN}, alice...)
	r.json(t, &run)
	if r.status != 202 || run.Status != runs.AwaitingApproval {
		t.Fatalf("async start for an admin: %d %s", r.status, r.body)
	}
	r = call(t, h, "POST", "/api/remediations/"+run.RunID+"/reject", map[string]any{"reason": "false positive"}, bob...)
	r.json(t, &run)
	if r.status != 200 || run.Status != runs.Rejected || run.Approval.Decision != runs.DecisionRejected {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	if r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", map[string]any{"reason": 7}, bob...); r.status != 400 {
		t.Fatalf("bad body: %d %s", r.status, r.body)
	}

	// A user without roles is not held up.
	r = call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.AssistantUPN, "mode": "sync"}, alice...)
	r.json(t, &raw)
	r.json(t, &run)
	if r.status != 200 || run.Status != runs.Succeeded || raw.Approval["required"] != false {
		t.Fatalf("run for a user without roles: %d %s", r.status, r.body)
	}
}

// The timer ends a run nobody decided once APPROVAL_TIMEOUT has passed.
// Under function keys the approver is told apart from the requester by the fingerprint of
// the key: the key that started a run can neither approve nor reject it (contract section 6).
func TestApprovalUnderFunctionKeysNeedsAnotherKey(t *testing.T) {
	t.Parallel()
	s := startStack(t, "APPROVAL_MODE=all")
	h := s.host
	const playbookKey, leadKey = "a-function-key-of-the-playbook", "a-function-key-of-the-soc-lead"
	r := call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.AssistantUPN, "steps": []string{"revoke-sessions"}}, "x-functions-key", playbookKey)
	var run runs.Run
	r.json(t, &run)
	if r.status != 202 || run.Status != runs.AwaitingApproval {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	for _, verb := range []string{"approve", "reject"} {
		// The key in the header or in ?code= is the same key.
		for _, how := range []struct{ path, header string }{{"", "x-functions-key"}, {"?code=" + playbookKey, ""}} {
			var hdr []string
			if how.header != "" {
				hdr = []string{how.header, playbookKey}
			}
			r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/"+verb+how.path, map[string]any{"reason": "mine"}, hdr...)
			if r.status != 403 || !strings.Contains(string(r.body), `"same_principal"`) {
				t.Fatalf("%s with the requester's key (%q): %d %s", verb, how.header+how.path, r.status, r.body)
			}
		}
	}
	r = call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", map[string]any{"reason": "checked"}, "x-functions-key", leadKey)
	r.json(t, &run)
	if r.status != 202 || run.Approval.DecidedBy != "functionkey:"+server.KeyFingerprint(leadKey) {
		t.Fatalf("approve with another key: %d %s", r.status, r.body)
	}
}

func TestApprovalTimerExpiresUndecidedRuns(t *testing.T) {
	t.Parallel()
	s := startStack(t, "APPROVAL_MODE=all", "APPROVAL_TIMEOUT=1s")
	r := call(t, s.host, "POST", "/api/steps/revoke-sessions", map[string]any{"user": s.demo.GlobalAdminUPN})
	var run runs.Run
	r.json(t, &run)
	if r.status != 202 || run.Status != runs.AwaitingApproval {
		t.Fatalf("one-step run: %d %s", r.status, r.body)
	}
	time.Sleep(1500 * time.Millisecond)
	// The list reads runs as stored: only the timer can have ended it.
	var list []runs.Run
	call(t, s.host, "GET", "/api/remediations?user="+s.demo.GlobalAdminUPN, nil).json(t, &list)
	if len(list) != 1 || list[0].Status != runs.AwaitingApproval {
		t.Fatalf("before the timer: %+v", list)
	}
	if _, err := s.host.FireTimer(context.Background(), "timer-sweep"); err != nil {
		t.Fatal(err)
	}
	call(t, s.host, "GET", "/api/remediations?user="+s.demo.GlobalAdminUPN, nil).json(t, &list)
	if len(list) != 1 || list[0].Status != runs.Expired || list[0].Approval.Decision != runs.DecisionExpired || list[0].Steps[0].Status != runs.StepSkipped {
		t.Fatalf("after the timer: %+v", list)
	}
	if r := call(t, s.host, "POST", "/api/remediations/"+run.RunID+"/approve", nil); r.status != 409 {
		t.Fatalf("approve an expired run: %d %s", r.status, r.body)
	}
	if s.sim.SessionsRevoked(s.demo.GlobalAdminID) != 0 {
		t.Fatal("an expired run changed the tenant")
	}
}

// TestRestoreThatGrantsRolesWaitsForAnotherKey: under APPROVAL_MODE admins a restore that
// would grant directory roles answers 202 awaiting_approval with nothing granted; the key
// that asked for it cannot approve it (same_principal); another key's approval with the
// restorationId carries it out and answers 200 with the items.
func TestRestoreThatGrantsRolesWaitsForAnotherKey(t *testing.T) {
	t.Parallel()
	s := startStack(t, "APPROVAL_MODE=admins")
	h := s.host
	const playbookKey, leadKey = "a-function-key-of-the-playbook", "a-function-key-of-the-soc-lead"
	var run runs.Run
	call(t, h, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "reason": "INC-20"}, "x-functions-key", playbookKey).json(t, &run)
	if r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", nil, "x-functions-key", leadKey); r.status != 202 {
		t.Fatalf("approve the run: %d %s", r.status, r.body)
	}
	s.waitIdle()
	call(t, h, "GET", "/api/remediations/"+run.RunID, nil, "x-functions-key", leadKey).json(t, &run)
	if run.Status != runs.Succeeded || len(s.sim.RoleAssignments(s.demo.UserID)) != 0 {
		t.Fatalf("run %s\n%s", run.Status, s.output.String())
	}

	var waiting struct {
		RestorationID string             `json:"restorationId"`
		Status        string             `json:"status"`
		Items         []runs.RestoreItem `json:"items"`
	}
	r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/restore", nil, "x-functions-key", playbookKey)
	r.json(t, &waiting)
	if r.status != 202 || waiting.Status != "awaiting_approval" || waiting.RestorationID == "" || len(waiting.Items) == 0 {
		t.Fatalf("restore under APPROVAL_MODE=admins: %d %s", r.status, r.body)
	}
	if n := len(s.sim.RoleAssignments(s.demo.UserID)); n != 0 {
		t.Fatalf("a restore awaiting approval granted %d roles", n)
	}
	body := map[string]any{"restorationId": waiting.RestorationID, "reason": "user confirmed"}
	if r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", body, "x-functions-key", playbookKey); r.status != 403 || !strings.Contains(string(r.body), `"same_principal"`) {
		t.Fatalf("approve with the requester's key: %d %s", r.status, r.body)
	}
	var done struct {
		Status string             `json:"status"`
		Items  []runs.RestoreItem `json:"items"`
	}
	r = call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", body, "x-functions-key", leadKey)
	r.json(t, &done)
	if r.status != 200 || done.Status != "succeeded" || len(done.Items) != len(waiting.Items) {
		t.Fatalf("approve with another key: %d %s", r.status, r.body)
	}
	if len(s.sim.RoleAssignments(s.demo.UserID)) == 0 {
		t.Fatal("the approved restore granted no role")
	}
	if r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/reject", body, "x-functions-key", leadKey); r.status != 409 || !strings.Contains(string(r.body), `"not_awaiting_approval"`) {
		t.Fatalf("reject after approval: %d %s", r.status, r.body)
	}

	// restore-admin-roles waits the same way (202 with the run); rejected, it grants nothing.
	r = call(t, h, "POST", "/api/remediations/"+run.RunID+"/restore-admin-roles", nil, "x-functions-key", playbookKey)
	r.json(t, &run)
	last := run.Restorations[len(run.Restorations)-1]
	if r.status != 202 || last.Status != "awaiting_approval" || last.Approval == nil {
		t.Fatalf("restore-admin-roles under APPROVAL_MODE=admins: %d %s", r.status, r.body)
	}
	r = call(t, h, "POST", "/api/remediations/"+run.RunID+"/reject", map[string]any{"restorationId": last.ID, "reason": "not now"}, "x-functions-key", leadKey)
	r.json(t, &done)
	if r.status != 200 || done.Status != "rejected" {
		t.Fatalf("reject the restore: %d %s", r.status, r.body)
	}
	if r := call(t, h, "POST", "/api/remediations/"+run.RunID+"/approve", map[string]any{"restorationId": "not-an-id"}, "x-functions-key", leadKey); r.status != 400 {
		t.Fatalf("approve with a malformed restorationId: %d %s", r.status, r.body)
	}
}
