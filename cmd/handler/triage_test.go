package main

import (
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/triage"
)

// sentinelAccount is an Account entity of a Sentinel incident trigger, as relatedEntities
// carries it.
func sentinelAccount(upn, id string) map[string]any {
	name, suffix, _ := strings.Cut(upn, "@")
	return map[string]any{"id": "/subscriptions/0/Entities/" + id, "name": id, "type": "Microsoft.SecurityInsights/Entities", "kind": "Account",
		"properties": map[string]any{"accountName": name, "upnSuffix": suffix, "aadUserId": id, "isDomainJoined": false, "friendlyName": name}}
}

func sentinelMail(recipient string) map[string]any {
	return map[string]any{"kind": "MailMessage", "type": "Microsoft.SecurityInsights/Entities",
		"properties": map[string]any{"recipient": recipient, "p1Sender": "billing@fabrikam-invoices.example", "p2Sender": "billing@fabrikam-invoices.example", "deliveryAction": "Delivered", "deliveryLocation": "Inbox", "subject": "Invoice overdue"}}
}

func sentinelAlert(product, name, compromised string) map[string]any {
	return map[string]any{"kind": "SecurityAlert", "properties": map[string]any{"productName": product, "alertDisplayName": name, "alertType": "x", "compromisedEntity": compromised, "severity": "High"}}
}

// The Sentinel playbook's flow through the host and the real handler: the triage first, then
// per account what workflow.json does (remediate: a real run; dry_run: a dry run under its own
// key; skip: nothing). The recipients of a phishing mail and the targets of a password spray,
// the Global Administrator among them, keep their passwords and sessions; the account that
// Entra ID Protection saw use a stolen token is remediated.
func TestSentinelPlaybookRemediatesOnlyTheCompromisedAccount(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	d := s.demo
	const key = "a-function-key-of-the-playbook"
	phishing := map[string]any{
		"id": "/subscriptions/0/providers/Microsoft.SecurityInsights/Incidents/inc-phish", "name": "inc-phish",
		"properties": map[string]any{
			"title": "Email messages containing malicious URL removed after delivery involving multiple users", "incidentNumber": 4711, "labels": []any{},
			"Alerts": []any{
				sentinelAlert("Microsoft Defender for Office 365", "Email messages containing malicious URL removed after delivery", ""),
				sentinelAlert("Azure Active Directory Identity Protection", "Anomalous Token", d.UPN),
				sentinelAlert("Azure Active Directory Identity Protection", "Unfamiliar sign-in properties", d.ManagerUPN),
			},
			"relatedEntities": []any{
				sentinelAccount(d.UPN, d.UserID), sentinelAccount(d.AssistantUPN, d.AssistantID), sentinelAccount(d.GlobalAdminUPN, d.GlobalAdminID), sentinelAccount(d.ManagerUPN, d.ManagerID),
				sentinelMail(d.UPN), sentinelMail(d.AssistantUPN), sentinelMail(d.GlobalAdminUPN), sentinelMail(d.ManagerUPN),
			},
		},
	}
	spray := map[string]any{
		"id": "/subscriptions/0/providers/Microsoft.SecurityInsights/Incidents/inc-spray", "name": "inc-spray",
		"properties": map[string]any{
			"title": "Password spray attack against Microsoft Entra ID application", "incidentNumber": 4712,
			"alerts":          []any{sentinelAlert("Azure Sentinel", "Password spray attack against Microsoft Entra ID application", "")},
			"relatedEntities": []any{sentinelAccount(d.GlobalAdminUPN, d.GlobalAdminID), sentinelAccount(d.AssistantUPN, d.AssistantID)},
		},
	}
	want := map[string]map[string]string{
		"inc-phish": {d.UserID: triage.Remediate, d.AssistantID: triage.Skip, d.GlobalAdminID: triage.Skip, d.ManagerID: triage.DryRun},
		"inc-spray": {d.GlobalAdminID: triage.Skip, d.AssistantID: triage.Skip},
	}
	for _, incident := range []map[string]any{phishing, spray} {
		name := incident["name"].(string)
		r := call(t, s.host, "POST", "/api/triage/sentinel", incident, "x-functions-key", key)
		var res triage.Result
		r.json(t, &res)
		if r.status != 200 || len(res.Accounts) != len(want[name]) {
			t.Fatalf("%s: triage %d %s", name, r.status, r.body)
		}
		for _, a := range res.Accounts {
			if a.Decision != want[name][a.User] {
				t.Errorf("%s: %s %s (%s), want %s", name, a.User, a.Decision, a.Why, want[name][a.User])
			}
			if a.Decision == triage.Skip {
				continue
			}
			dry := a.Decision == triage.DryRun
			prefix := "sentinel:"
			if dry {
				prefix = "sentinel-dryrun:"
			}
			r := call(t, s.host, "POST", "/api/remediations", map[string]any{"user": a.User, "dryRun": dry, "mode": "sync",
				"reason": "Microsoft Sentinel incident: " + a.Why, "idempotencyKey": prefix + name + ":" + strings.ToLower(a.User)}, "x-functions-key", key)
			var run runs.Run
			r.json(t, &run)
			if r.status != 200 || run.DryRun != dry {
				t.Fatalf("%s: start for %s: %d %s", name, a.User, r.status, r.body)
			}
		}
	}
	if n := len(s.sim.PasswordResets(d.UserID)); n != 1 || s.sim.SessionsRevoked(d.UserID) == 0 {
		t.Errorf("the compromised user: %d password resets, %d revocations; want it remediated", n, s.sim.SessionsRevoked(d.UserID))
	}
	for _, id := range []string{d.AssistantID, d.GlobalAdminID, d.ManagerID} {
		if n, rev := len(s.sim.PasswordResets(id)), s.sim.SessionsRevoked(id); n != 0 || rev != 0 {
			t.Errorf("%s (a recipient, spray target or dry run): %d password resets, %d revocations; want none", id, n, rev)
		}
	}
}
