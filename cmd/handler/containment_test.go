package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

var exchangeSteps = []string{"disable-mail-protocols", "remove-exchange-role-groups", "remove-mailbox-delegates"}

// exchangeAccess is what the Exchange containment steps may change, as one comparable text:
// lists sorted, so a grant restored at the end of a list compares equal.
func exchangeAccess(sim *tenantsim.Sim, upn string) string {
	var full, sendAs []string
	for _, p := range sim.MailboxPermissions(upn) {
		b, _ := json.Marshal(p)
		full = append(full, string(b))
	}
	for _, p := range sim.RecipientPermissions(upn) {
		b, _ := json.Marshal(p)
		sendAs = append(sendAs, string(b))
	}
	groups := map[string][]string{}
	for _, g := range sim.RoleGroupNames() {
		m := sim.RoleGroupMembers(g)
		slices.Sort(m)
		groups[g] = m
	}
	onBehalf := sim.SendOnBehalf(upn)
	slices.Sort(full)
	slices.Sort(sendAs)
	slices.Sort(onBehalf)
	protocols := sim.MailProtocols(upn)
	if protocols["EwsEnabled"] == nil {
		// Set-CASMailbox takes no null for EwsEnabled: a restore sets true, null's effect.
		on := true
		protocols["EwsEnabled"] = &on
	}
	b, _ := json.Marshal(map[string]any{"protocols": protocols, "fullAccess": full, "sendAs": sendAs, "groups": groups, "onBehalf": onBehalf})
	return string(b)
}

func exchangeWrites(sim *tenantsim.Sim) []string {
	var out []string
	for _, r := range sim.Requests() {
		if r.Service == tenantsim.ServiceExchange && r.Cmdlet != "" && !strings.HasPrefix(r.Cmdlet, "Get-") {
			out = append(out, r.Cmdlet)
		}
	}
	return out
}

// The three Exchange containment steps through the real handler under the host emulator:
// a dry run writes nothing, an async run through the step queues acts and records, a new
// run finds nothing to do, and the restore route puts back exactly what was removed.
func TestExchangeContainmentThroughTheHost(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	h, d := s.host, s.demo
	before := exchangeAccess(s.sim, d.UPN)

	s.sim.ResetRequests()
	var dry runs.Run
	r := call(t, h, "POST", "/api/remediations", map[string]any{"user": d.UPN, "steps": exchangeSteps, "dryRun": true, "mode": "sync", "reason": "INC-11 dry"})
	r.json(t, &dry)
	if r.status != 200 || dry.Status != runs.Planned {
		t.Fatalf("dry run: %d %s", r.status, r.body)
	}
	if w := exchangeWrites(s.sim); len(w) != 0 || exchangeAccess(s.sim, d.UPN) != before {
		t.Fatalf("the dry run wrote %v", w)
	}

	var run runs.Run
	r = call(t, h, "POST", "/api/remediations", map[string]any{"user": d.UPN, "steps": append([]string{"reset-password", "revoke-sessions"}, exchangeSteps...), "reason": "INC-11"})
	r.json(t, &run)
	if r.status != 202 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	s.waitIdle()
	call(t, h, "GET", "/api/remediations/"+run.RunID, nil).json(t, &run)
	want := map[string]int{"disable-mail-protocols": 9, "remove-exchange-role-groups": 2, "remove-mailbox-delegates": 3}
	for name, n := range want {
		if st := run.Step(name); st == nil || st.Status != runs.StepSucceeded || len(st.Changes) != n {
			t.Fatalf("%s: %+v\n%s", name, st, s.output.String())
		}
	}
	if run.Status != runs.Succeeded {
		t.Fatalf("run %s", run.Status)
	}
	for name, v := range s.sim.MailProtocols(d.UPN) {
		if !tenantsim.MailProtocolOff(name, v) {
			t.Errorf("%s still on", name)
		}
	}
	for _, g := range d.ExchangeRoleGroups {
		if slices.Contains(s.sim.RoleGroupMembers(g), d.UserID) {
			t.Errorf("still in %s", g)
		}
	}
	for _, p := range s.sim.MailboxPermissions(d.UPN) {
		if p.User == d.AssistantUPN {
			t.Errorf("FullAccess of the planted delegate left: %+v", p)
		}
	}
	self := 0
	for _, p := range s.sim.RecipientPermissions(d.UPN) {
		if p.Trustee == `NT AUTHORITY\SELF` {
			self++
		} else {
			t.Errorf("SendAs left: %+v", p)
		}
	}
	if self != 1 || len(s.sim.SendOnBehalf(d.UPN)) != 0 || !slices.Contains(s.sim.RoleGroupMembers("Organization Management"), d.GlobalAdminID) {
		t.Errorf("SELF SendAs %d, SendOnBehalf %v, Organization Management %v", self, s.sim.SendOnBehalf(d.UPN), s.sim.RoleGroupMembers("Organization Management"))
	}

	var again runs.Run
	call(t, h, "POST", "/api/remediations", map[string]any{"user": d.UPN, "steps": exchangeSteps, "mode": "sync", "reason": "INC-11 again"}).json(t, &again)
	for _, name := range exchangeSteps {
		if st := again.Step(name); st == nil || st.Status != runs.StepNoChange {
			t.Errorf("second run %s: %+v", name, st)
		}
	}

	var restored remediation.Restored
	r = call(t, h, "POST", "/api/remediations/"+run.RunID+"/restore", map[string]any{"steps": exchangeSteps})
	r.json(t, &restored)
	if r.status != 200 || len(restored.Items) != 14 {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	for _, it := range restored.Items {
		if it.Result != "restored" {
			t.Errorf("restore item %+v", it)
		}
	}
	if now := exchangeAccess(s.sim, d.UPN); now != before {
		t.Errorf("after restore\n%s\nwant\n%s", now, before)
	}
	r = call(t, h, "POST", "/api/remediations/"+run.RunID+"/restore", map[string]any{"steps": exchangeSteps})
	r.json(t, &restored)
	for _, it := range restored.Items {
		if it.Result != "already_present" {
			t.Errorf("second restore item %+v", it)
		}
	}
}
