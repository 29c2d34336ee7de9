package remediation_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

var exchangeContainment = []string{"disable-mail-protocols", "remove-exchange-role-groups", "remove-mailbox-delegates"}

// accessState is everything the Exchange containment steps may change, as the tenant holds it.
type accessState struct {
	protocols  map[string]*bool
	fullAccess []tenantsim.MailboxPermission
	sendAs     []tenantsim.RecipientPermission
	onBehalf   []string
	groups     map[string][]string
}

func readAccess(sim *tenantsim.Sim, upn string) accessState {
	st := accessState{protocols: sim.MailProtocols(upn), fullAccess: sim.MailboxPermissions(upn),
		sendAs: sim.RecipientPermissions(upn), onBehalf: sim.SendOnBehalf(upn), groups: map[string][]string{}}
	for _, g := range sim.RoleGroupNames() {
		st.groups[g] = sim.RoleGroupMembers(g)
	}
	return st
}

func (a accessState) String() string {
	b, _ := json.Marshal(map[string]any{"protocols": a.protocols, "fullAccess": a.fullAccess, "sendAs": a.sendAs, "onBehalf": a.onBehalf, "groups": a.groups})
	return string(b)
}

// sameAccess compares two states; entry order within a list does not matter (a restored
// grant comes back at the end).
func sameAccess(a, b accessState) bool {
	key := func(v any) string { j, _ := json.Marshal(v); return string(j) }
	sorted := func(items []string) []string { s := slices.Clone(items); slices.Sort(s); return s }
	keys := func(n int, at func(int) any) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, key(at(i)))
		}
		return sorted(out)
	}
	if key(ewsNullAsTrue(a.protocols)) != key(ewsNullAsTrue(b.protocols)) || !slices.Equal(sorted(a.onBehalf), sorted(b.onBehalf)) {
		return false
	}
	if !slices.Equal(keys(len(a.fullAccess), func(i int) any { return a.fullAccess[i] }), keys(len(b.fullAccess), func(i int) any { return b.fullAccess[i] })) ||
		!slices.Equal(keys(len(a.sendAs), func(i int) any { return a.sendAs[i] }), keys(len(b.sendAs), func(i int) any { return b.sendAs[i] })) {
		return false
	}
	return maps.EqualFunc(a.groups, b.groups, func(x, y []string) bool { return slices.Equal(sorted(x), sorted(y)) })
}

// ewsNullAsTrue: Set-CASMailbox takes no null for EwsEnabled, so a restore sets a recorded
// null to true, which has the same effect (the organisation's EwsEnabled still decides).
func ewsNullAsTrue(p map[string]*bool) map[string]*bool {
	out := maps.Clone(p)
	if v, ok := out["EwsEnabled"]; ok && v == nil {
		on := true
		out["EwsEnabled"] = &on
	}
	return out
}

func TestExchangeContainmentActsRecordsAndRestoresExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	d := e.demo
	off := false
	// An admin had turned IMAP off before the compromise: not this run's change, so a restore
	// must leave it off.
	e.sim.SetMailProtocol(d.UPN, "ImapEnabled", &off)
	before := readAccess(e.sim, d.UPN)

	// Dry run: planned, nothing written.
	e.sim.ResetRequests()
	dry := e.start(remediation.StartRequest{User: d.UPN, Steps: exchangeContainment, DryRun: true, Mode: "sync", Reason: "INC-11 dry"})
	for _, name := range exchangeContainment {
		if st := dry.Step(name); st.Status != runs.StepPlanned || len(st.Changes) == 0 {
			t.Fatalf("dry run %s: %+v\n%s", name, st, dump(dry))
		}
	}
	if w := writes(e.sim); len(w) != 0 || !sameAccess(before, readAccess(e.sim, d.UPN)) {
		t.Fatalf("a dry run wrote %v", w)
	}

	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: d.UPN, Steps: append([]string{"reset-password", "revoke-sessions"}, exchangeContainment...), Mode: "sync", Reason: "INC-11"})
	total, by := exchangeCalls(e.sim)
	t.Logf("Exchange requests of the three containment steps on the demo user: %d %v", total, by)
	wantChanges := map[string]int{"disable-mail-protocols": 8, "remove-exchange-role-groups": 2, "remove-mailbox-delegates": 3}
	for name, n := range wantChanges {
		st := run.Step(name)
		if st.Status != runs.StepSucceeded || len(st.Changes) != n {
			t.Fatalf("%s: %s with %d changes, want succeeded with %d\n%s", name, st.Status, len(st.Changes), n, dump(run))
		}
		for _, c := range st.Changes {
			if c.Restore == nil || c.Seal == "" || c.Before == nil {
				t.Errorf("%s change %s is not restorable or has no evidence: %+v", name, c.Target, c)
			}
		}
	}
	after := readAccess(e.sim, d.UPN)
	for name, v := range after.protocols {
		if !tenantsim.MailProtocolOff(name, v) {
			t.Errorf("%s still on: %v", name, v)
		}
	}
	for _, g := range d.ExchangeRoleGroups {
		if slices.Contains(after.groups[g], d.UserID) {
			t.Errorf("still in %s", g)
		}
	}
	if !slices.Contains(after.groups["Organization Management"], d.GlobalAdminID) {
		t.Error("another member was removed from Organization Management")
	}
	if len(after.onBehalf) != 0 {
		t.Errorf("SendOnBehalf left: %v", after.onBehalf)
	}
	// Only Lee Gu's grants went: SELF and every inherited entry are untouched.
	wantFull := slices.DeleteFunc(slices.Clone(before.fullAccess), func(p tenantsim.MailboxPermission) bool { return p.User == d.AssistantUPN })
	wantSendAs := slices.DeleteFunc(slices.Clone(before.sendAs), func(p tenantsim.RecipientPermission) bool { return p.Trustee == d.AssistantUPN })
	if len(wantFull) != len(before.fullAccess)-1 || len(wantSendAs) != len(before.sendAs)-1 ||
		!sameAccess(accessState{fullAccess: wantFull, sendAs: wantSendAs}, accessState{fullAccess: after.fullAccess, sendAs: after.sendAs}) {
		t.Errorf("permissions after the run:\n%s\nwant only %s's grants gone from\n%s", after, d.AssistantUPN, before)
	}
	for _, r := range e.sim.Requests() {
		if r.Cmdlet == "Remove-MailboxPermission" || r.Cmdlet == "Remove-RecipientPermission" {
			if !strings.Contains(string(r.Body), d.AssistantUPN) || strings.Contains(string(r.Body), "NT AUTHORITY") {
				t.Errorf("%s sent %s", r.Cmdlet, r.Body)
			}
		}
	}

	// A new run on the cleaned account changes nothing.
	again := e.start(remediation.StartRequest{User: d.UPN, Steps: exchangeContainment, Mode: "sync", Reason: "INC-11 again"})
	for _, name := range exchangeContainment {
		if st := again.Step(name); st.Status != runs.StepNoChange || len(st.Changes) != 0 {
			t.Errorf("second run %s: %+v", name, st)
		}
	}

	// Restore puts back exactly what the run removed, and IMAP stays off.
	restored, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Steps: exchangeContainment, RequestedBy: "soc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(restored.Items) != 13 {
		t.Fatalf("restore items %+v", restored.Items)
	}
	for _, it := range restored.Items {
		if it.Result != "restored" {
			t.Errorf("restore item %+v", it)
		}
	}
	if now := readAccess(e.sim, d.UPN); !sameAccess(before, now) {
		t.Errorf("after restore:\n%s\nwant\n%s", now, before)
	}
	twice, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Steps: exchangeContainment})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range twice.Items {
		if it.Result != "already_present" {
			t.Errorf("second restore item %+v", it)
		}
	}
	if now := readAccess(e.sim, d.UPN); !sameAccess(before, now) {
		t.Errorf("after a second restore:\n%s\nwant\n%s", now, before)
	}
}

func TestExchangeContainmentUnderDuplicateDeliveryRecordsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	started := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: exchangeContainment, Reason: "INC-11 async"})
	e.drain(3)
	run := e.get(started.RunID)
	want := map[string]int{"disable-mail-protocols": 9, "remove-exchange-role-groups": 2, "remove-mailbox-delegates": 3}
	for name, n := range want {
		if st := run.Step(name); st.Status != runs.StepSucceeded || len(st.Changes) != n {
			t.Errorf("%s: %s with %d changes, want %d\n%s", name, st.Status, len(st.Changes), n, dump(run))
		}
	}
}

func TestExchangeContainmentForAUserWithoutAMailbox(t *testing.T) {
	t.Parallel()
	e := newEnvSeeded(t, remediation.Config{}, tenantsim.SeedNoMailbox)
	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: exchangeContainment, Mode: "sync", Reason: "INC-11 no mailbox"})
	for _, name := range []string{"disable-mail-protocols", "remove-mailbox-delegates"} {
		if st := run.Step(name); st.Status != runs.StepNoChange || !strings.Contains(st.Message, "no Exchange Online mailbox") {
			t.Errorf("%s: %+v", name, st)
		}
	}
	// Role groups hold users, not mailboxes: the membership is removed all the same.
	if st := run.Step("remove-exchange-role-groups"); st.Status != runs.StepSucceeded || len(st.Changes) != 2 {
		t.Errorf("remove-exchange-role-groups: %+v", st)
	}
	for _, w := range writes(e.sim) {
		if w != "Remove-RoleGroupMember" {
			t.Errorf("a mailbox change was sent for a user without a mailbox: %v", writes(e.sim))
		}
	}
	if run.Status != runs.Succeeded {
		t.Errorf("run %s\n%s", run.Status, dump(run))
	}
}

func TestExchangeContainmentRefusesAMailboxOfAnotherObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	// The address now resolves to a mailbox whose directory object is somebody else.
	e.sim.SetMailboxOwner(e.demo.UPN, "99999999-9999-4999-8999-999999999999")
	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: exchangeContainment, Mode: "sync", Reason: "INC-11 mismatch"})
	for _, name := range []string{"disable-mail-protocols", "remove-mailbox-delegates"} {
		if st := run.Step(name); st.Status != runs.StepFailed || st.Error == nil || st.Error.Code != "mailbox_mismatch" {
			t.Errorf("%s: %+v", name, st)
		}
	}
	// Role group members are matched by the user's own object id, not through the mailbox.
	if st := run.Step("remove-exchange-role-groups"); st.Status != runs.StepSucceeded || len(st.Changes) != 2 {
		t.Errorf("remove-exchange-role-groups: %+v", st)
	}
	for _, w := range writes(e.sim) {
		if w != "Remove-RoleGroupMember" {
			t.Errorf("a mailbox of another object was changed: %v", writes(e.sim))
		}
	}
}

func TestExchangeContainmentOfAGuest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	const guestID = "abababab-abab-4bab-8bab-abababababab"
	guest := "mallory_fabrikam.example#EXT#@contoso.example"
	e.sim.AddUser(tenantsim.User{ID: guestID, UserPrincipalName: guest, DisplayName: "Mallory (Fabrikam)", Mail: "mallory@fabrikam.example", AccountEnabled: true})
	e.sim.RemoveMailbox(guest) // a guest is a mail user in Exchange, without a mailbox
	if !e.sim.AddRoleGroupMember("Help Desk", guestID) {
		t.Fatal("seed")
	}
	run := e.start(remediation.StartRequest{User: guest, Steps: exchangeContainment, Mode: "sync", Reason: "INC-11 guest"})
	if st := run.Step("remove-exchange-role-groups"); st.Status != runs.StepSucceeded || len(st.Changes) != 1 || st.Changes[0].Target != "Help Desk" {
		t.Fatalf("remove-exchange-role-groups: %+v\n%s", st, dump(run))
	}
	for _, name := range []string{"disable-mail-protocols", "remove-mailbox-delegates"} {
		if st := run.Step(name); st.Status != runs.StepNoChange {
			t.Errorf("%s: %+v", name, st)
		}
	}
	if slices.Contains(e.sim.RoleGroupMembers("Help Desk"), guestID) {
		t.Fatal("the guest is still in Help Desk")
	}
	restored, err := e.svc.Restore(context.Background(), remediation.RestoreRequest{RunID: run.RunID, Force: true, Reason: "INC-11 test: the guest is cleared", RequestedBy: "soc"})
	if err != nil || len(restored.Items) != 1 || restored.Items[0].Result != "restored" || !slices.Contains(e.sim.RoleGroupMembers("Help Desk"), guestID) {
		t.Fatalf("restore: %+v %v, members %v", restored, err, e.sim.RoleGroupMembers("Help Desk"))
	}
}

// disable-mail-protocols turns off Outlook for iOS and Android, Outlook for Mac and SMTP AUTH
// (SmtpClientAuthenticationDisabled: true) with the six protocols, recording each previous
// value; a restore puts a null SMTP AUTH back as null and a null EwsEnabled as true. When
// the organisation blocks EWS (Get-OrganizationConfig EwsEnabled: false), the mailbox's
// null is not taken for "on": the step says so and leaves EwsEnabled alone.
func TestDisableMailProtocolsCoversMobileMacAndSMTPAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	d := e.demo
	explicit := false // SMTP AUTH explicitly allowed for the mailbox (a scanner's exception, say)
	e.sim.SetMailProtocol(d.UPN, "SmtpClientAuthenticationDisabled", &explicit)
	e.sim.SetOrganizationEwsEnabled(new(bool))
	run := e.start(remediation.StartRequest{User: d.UPN, Steps: []string{"disable-mail-protocols"}, Mode: "sync", Reason: "INC-22"})
	st := run.Step("disable-mail-protocols")
	if st.Status != runs.StepSucceeded || len(st.Changes) != 8 || !strings.Contains(st.Message, "EWS is blocked for the whole organisation") {
		t.Fatalf("%s with %d changes: %s\n%s", st.Status, len(st.Changes), st.Message, dump(run))
	}
	before := map[string]any{}
	for _, c := range st.Changes {
		for k, v := range c.Before.(map[string]any) {
			before[k] = v
		}
	}
	wantBefore := map[string]any{"OWAEnabled": true, "MAPIEnabled": true, "ActiveSyncEnabled": true, "PopEnabled": true, "ImapEnabled": true,
		"OutlookMobileEnabled": true, "MacOutlookEnabled": true, "SmtpClientAuthenticationDisabled": false}
	if !maps.Equal(before, wantBefore) {
		t.Errorf("recorded before %v, want %v", before, wantBefore)
	}
	p := e.sim.MailProtocols(d.UPN)
	if p["EwsEnabled"] != nil || p["SmtpClientAuthenticationDisabled"] == nil || !*p["SmtpClientAuthenticationDisabled"] ||
		!tenantsim.MailProtocolOff("OutlookMobileEnabled", p["OutlookMobileEnabled"]) || !tenantsim.MailProtocolOff("MacOutlookEnabled", p["MacOutlookEnabled"]) {
		t.Fatalf("after the run: %s", accessState{protocols: p})
	}
	force := remediation.RestoreRequest{Steps: []string{"disable-mail-protocols"}, RequestedBy: "soc", Force: true, Reason: "INC-22 test: the account is cleared"}
	force.RunID = run.RunID
	if _, err := e.svc.Restore(ctx, force); err != nil {
		t.Fatal(err)
	}
	if p := e.sim.MailProtocols(d.UPN); p["SmtpClientAuthenticationDisabled"] == nil || *p["SmtpClientAuthenticationDisabled"] || p["EwsEnabled"] != nil || !*p["MacOutlookEnabled"] {
		t.Errorf("after restore: %s", accessState{protocols: p})
	}

	// The organisation's EWS on again, SMTP AUTH null: both recorded null; SMTP AUTH goes back
	// to null, EwsEnabled to true (the cmdlet takes no null for it).
	e.sim.SetOrganizationEwsEnabled(nil)
	e.sim.SetMailProtocol(d.UPN, "SmtpClientAuthenticationDisabled", nil)
	second := e.start(remediation.StartRequest{User: d.UPN, Steps: []string{"disable-mail-protocols"}, Mode: "sync", Reason: "INC-22 again"})
	if st := second.Step("disable-mail-protocols"); st.Status != runs.StepSucceeded || len(st.Changes) != 9 {
		t.Fatalf("second run: %+v", st)
	}
	force.RunID = second.RunID
	if _, err := e.svc.Restore(ctx, force); err != nil {
		t.Fatal(err)
	}
	if p := e.sim.MailProtocols(d.UPN); p["SmtpClientAuthenticationDisabled"] != nil || p["EwsEnabled"] == nil || !*p["EwsEnabled"] {
		t.Errorf("after the second restore: %s", accessState{protocols: p})
	}
}

// A delegate is recorded by object id as well as by name: after the delegate's account was
// renamed and its old address given to someone else, restore grants to the same account
// under its new name, never to the new holder of the address.
func TestDelegateRestoreFollowsTheObjectNotTheName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	e.sim.GrantFullAccess(e.demo.UPN, e.demo.ManagerUPN)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions", "remove-mailbox-delegates"}})
	var found bool
	for _, c := range run.Step("remove-mailbox-delegates").Changes {
		raw, _ := json.Marshal(c.Restore)
		var g steps.ExchangeGrant
		_ = json.Unmarshal(raw, &g)
		if g.Kind == steps.GrantFullAccess && strings.EqualFold(g.Trustee, e.demo.ManagerUPN) {
			found = strings.EqualFold(g.TrusteeID, e.demo.ManagerID)
		}
	}
	if !found {
		t.Fatalf("the delegate's object id was not recorded: %s", dump(run))
	}
	// Alex is renamed; a new account takes Alex's old address.
	alex, _ := e.sim.User(e.demo.ManagerID)
	alex.UserPrincipalName, alex.Mail = "alex.renamed@contoso.example", "alex.renamed@contoso.example"
	e.sim.AddUser(alex)
	e.sim.AddUser(tenantsim.User{ID: "0e0e0e0e-0000-4000-8000-00000000000e", UserPrincipalName: e.demo.ManagerUPN, Mail: e.demo.ManagerUPN, AccountEnabled: true})
	if _, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"remove-mailbox-delegates"}}); err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, p := range e.sim.MailboxPermissions(e.demo.UPN) {
		to = append(to, p.User)
	}
	if !slices.ContainsFunc(to, func(u string) bool { return strings.EqualFold(u, "alex.renamed@contoso.example") }) ||
		slices.ContainsFunc(to, func(u string) bool { return strings.EqualFold(u, e.demo.ManagerUPN) }) {
		t.Fatalf("FullAccess after the restore: %v", to)
	}
}
