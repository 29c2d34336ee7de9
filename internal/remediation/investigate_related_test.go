package remediation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/identity"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// The contract's new findings fields (1.1.1), through the real clients against the demo
// tenant: the attacker's addresses as indicators; Lee Gu, who signed in from one of them,
// and Alex Wilber, whose mailbox forwards to the attacker's drop address, as related
// users; nothing of theirs changed; every list a list, never null.
func TestInvestigationNamesIndicatorsAndRelatedUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	// Alex's mailbox forwards to the same external address as Adele's attacker set.
	e.sim.SetForwarding(e.demo.ManagerUPN, "exfil@evil.example", "", true)
	alexBefore := e.sim.Mailbox(e.demo.ManagerUPN)
	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-24a", Steps: []string{"investigate"}})
	st, wire := findingsOf(t, e.get(run.RunID))
	if st.Status != runs.StepSucceeded {
		t.Fatalf("investigate %s %+v", st.Status, st.Error)
	}
	f := st.Findings
	if want := []string{tenantsim.AttackerIP, tenantsim.AttackerIPv6}; !slices.Equal(f.Indicators.IPs, want) {
		t.Errorf("indicators %q, want %q", f.Indicators.IPs, want)
	}
	related := map[string][]string{}
	for _, r := range f.Related {
		related[r.User] = r.Why
	}
	if len(related) != 2 {
		t.Fatalf("related %+v, want Lee Gu and Alex Wilber", f.Related)
	}
	lee := strings.Join(related[e.demo.AssistantUPN], " | ")
	if !strings.Contains(lee, "signed in from "+tenantsim.AttackerIP) || strings.Contains(lee, "failed") {
		t.Errorf("Lee Gu's reasons %q: want the successful sign-in from %s", lee, tenantsim.AttackerIP)
	}
	if alex := strings.Join(related[e.demo.ManagerUPN], " | "); !strings.Contains(alex, "forwards to exfil@evil.example") {
		t.Errorf("Alex Wilber's reasons %q", alex)
	}
	if _, self := related[e.demo.UPN]; self {
		t.Errorf("the investigated user is related to itself: %+v", f.Related)
	}

	// Read-only: nothing but reads, and Alex's mailbox as it was.
	for _, r := range e.sim.Requests() {
		if r.Service == tenantsim.ServiceExchange && !strings.HasPrefix(r.Cmdlet, "Get-") && r.Cmdlet != "Search-UnifiedAuditLog" ||
			r.Service != tenantsim.ServiceExchange && r.Method != http.MethodGet && !strings.Contains(r.Path, "token") {
			t.Errorf("the investigation changed something: %s %s %s", r.Method, r.Path, r.Cmdlet)
		}
	}
	if after := e.sim.Mailbox(e.demo.ManagerUPN); fmt.Sprint(after) != fmt.Sprint(alexBefore) {
		t.Errorf("Alex's mailbox changed: %+v -> %+v", alexBefore, after)
	}

	// The wire shape: indicators.ips, related[].user/why and truncated are lists.
	ind, _ := wire["indicators"].(map[string]any)
	if _, ok := ind["ips"].([]any); !ok {
		t.Errorf("indicators %#v", wire["indicators"])
	}
	rel, ok := wire["related"].([]any)
	if !ok || len(rel) != 2 {
		t.Fatalf("related %#v", wire["related"])
	}
	first, _ := rel[0].(map[string]any)
	if _, ok := first["user"].(string); !ok {
		t.Errorf("related[0].user %#v", first["user"])
	}
	if _, ok := first["why"].([]any); !ok {
		t.Errorf("related[0].why %#v", first["why"])
	}
	if tr, ok := wire["truncated"].([]any); !ok || len(tr) != 0 {
		t.Errorf("truncated %#v, want []", wire["truncated"])
	}
}

// With nothing attributed to an attacker the new fields are still there, empty.
func TestInvestigationOfAQuietAccountHasEmptyIndicatorsAndRelated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.GlobalAdminUPN, Mode: "sync", Reason: "INC-24b", Steps: []string{"investigate"}})
	_, wire := findingsOf(t, e.get(run.RunID))
	for _, k := range []string{"related", "truncated"} {
		if l, ok := wire[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, wire[k])
		}
	}
	if ind, _ := wire["indicators"].(map[string]any); ind == nil {
		t.Errorf("indicators %#v", wire["indicators"])
	} else if l, ok := ind["ips"].([]any); !ok || len(l) != 0 {
		t.Errorf("indicators.ips = %#v, want []", ind["ips"])
	}
}

// Mail is traced by the mailbox's sender addresses (its primary SMTP address and its other
// SMTP proxy addresses), not by the UPN, which here is no address anyone sends from.
func TestInvestigationTracesMailByTheMailboxAddressesNotTheUPN(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	const upn, primary, alias = "d.ng@contoso.example", "dana.ng@contoso.example", "sales@contoso.example"
	e.sim.AddUser(tenantsim.User{UserPrincipalName: upn, DisplayName: "Dana Ng", Mail: primary, AccountEnabled: true})
	e.sim.AddProxyAddress(upn, alias)
	at := time.Now().UTC().Add(-3 * time.Hour)
	e.sim.AddSentMessage(tenantsim.SentMessage{Sender: primary, Time: at, Subject: "hello", Recipients: []string{"a@partner.example", "lee.gu@contoso.example"}})
	e.sim.AddSentMessage(tenantsim.SentMessage{Sender: alias, Time: at.Add(time.Minute), Subject: "invoice", Recipients: []string{"b@partner.example"}})
	e.sim.AddSentMessage(tenantsim.SentMessage{Sender: "someone.else@contoso.example", Time: at, Recipients: []string{"c@partner.example"}})
	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: upn, Mode: "sync", Reason: "INC-24c", Steps: []string{"investigate"}})
	st, _ := findingsOf(t, e.get(run.RunID))
	if st.Status != runs.StepSucceeded || len(st.Findings.Unavailable) != 0 {
		t.Fatalf("investigate %s %+v %+v", st.Status, st.Error, st.Findings.Unavailable)
	}
	if s := st.Findings.Summary; s.MailSent != 2 || s.ExternalRecipients != 2 || !slices.Equal(s.ExternalDomains, []string{"partner.example"}) {
		t.Errorf("summary %+v: want the 2 messages sent from %s and %s", s, primary, alias)
	}
	for _, r := range e.sim.Requests() {
		if r.Cmdlet == "Get-MessageTraceV2" && (strings.Contains(string(r.Body), upn) || !strings.Contains(string(r.Body), alias)) {
			t.Errorf("message trace asked %s", r.Body)
		}
	}
}

// A tenant whose unified audit log is off: the mailbox source is unavailable with a reason
// that names the setting (an empty search is no evidence of nothing), the step still
// succeeds, and the Set-AdminAuditLogConfig that turned it off, run by someone else, is a
// finding on the timeline.
func TestInvestigationSaysWhenTheAuditLogIsOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.SetUnifiedAuditLogIngestion(false)
	e.sim.AddAuditRecord(tenantsim.AuditRecord{UserID: e.demo.GlobalAdminUPN, Time: time.Now().UTC().Add(-2 * time.Hour), Operation: "Set-AdminAuditLogConfig",
		ClientIP: tenantsim.AttackerIP + ":50999", ObjectID: "Admin Audit Log Settings", Parameters: [][2]string{{"UnifiedAuditLogIngestionEnabled", "False"}}})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-24d", Steps: []string{"investigate"}})
	st, _ := findingsOf(t, e.get(run.RunID))
	if st.Status != runs.StepSucceeded {
		t.Fatalf("investigate %s %+v", st.Status, st.Error)
	}
	f := st.Findings
	if len(f.Unavailable) != 1 || f.Unavailable[0].Source != "mailbox" || !strings.Contains(f.Unavailable[0].Reason, "UnifiedAuditLogIngestionEnabled") {
		t.Errorf("unavailable %+v, want the mailbox source naming UnifiedAuditLogIngestionEnabled", f.Unavailable)
	}
	var off *runs.TimelineEntry
	for i, en := range f.Timeline {
		if en.Source == "mailbox" && strings.Contains(en.What, "unified audit log turned off") {
			off = &f.Timeline[i]
		}
	}
	if off == nil || off.IP != tenantsim.AttackerIP || len(off.Signals) == 0 || !strings.Contains(off.Detail, "by "+e.demo.GlobalAdminUPN) {
		t.Fatalf("no flagged timeline entry for the audit switch-off: %+v\n%+v", off, f.Timeline)
	}
	// With auditing on (the default), the mailbox source is read as before.
	e2 := newEnv(t, remediation.Config{})
	run = e2.start(remediation.StartRequest{User: e2.demo.UPN, Mode: "sync", Reason: "INC-24e", Steps: []string{"investigate"}})
	if st, _ := findingsOf(t, e2.get(run.RunID)); len(st.Findings.Unavailable) != 0 {
		t.Errorf("auditing on: unavailable %+v", st.Findings.Unavailable)
	}
}

// A Search-UnifiedAuditLog batch that comes back with ResultIndex -1 / ResultCount 0 is a
// time-out on the server: the search is run again with a new session, and the records are
// all there; a search that times out every time leaves the mailbox source unavailable.
func TestInvestigationRetriesATimedOutAuditSearchWithANewSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.TimeOutAuditSearchNext(2, "New-InboxRule")
	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-24f", Steps: []string{"investigate"}})
	st, _ := findingsOf(t, e.get(run.RunID))
	f := st.Findings
	if st.Status != runs.StepSucceeded || len(f.Unavailable) != 0 {
		t.Fatalf("investigate %s %+v", st.Status, f.Unavailable)
	}
	rules := 0
	for _, en := range f.Timeline {
		if en.Source == "mailbox" && !strings.Contains(en.What, "MailItemsAccessed") {
			rules++
		}
	}
	if rules != 4 || !strings.Contains(strings.Join(f.Notes, " "), "timed out on the server") {
		t.Errorf("%d mailbox changes (want the 4 of the story), notes %q", rules, f.Notes)
	}
	// The search for audit configuration changes runs beside it and finds nothing, so it
	// takes no time-out (one shows only in a batch with records).
	sessions := map[string]bool{}
	for _, r := range e.sim.Requests() {
		if r.Cmdlet == "Search-UnifiedAuditLog" && strings.Contains(string(r.Body), "New-InboxRule") {
			var body struct {
				CmdletInput struct{ Parameters struct{ SessionId string } }
			}
			_ = json.Unmarshal(r.Body, &body)
			sessions[body.CmdletInput.Parameters.SessionId] = true
		}
	}
	if len(sessions) != 3 {
		t.Errorf("%d sessions for the user's search, want 3 (two timed out)", len(sessions))
	}

	e = newEnv(t, remediation.Config{})
	e.sim.TimeOutAuditSearchNext(100)
	run = e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-24g", Steps: []string{"investigate"}})
	st, _ = findingsOf(t, e.get(run.RunID))
	if u := st.Findings.Unavailable; st.Status != runs.StepSucceeded || len(u) != 1 || u[0].Source != "mailbox" || !strings.Contains(u[0].Reason, "timed out") {
		t.Errorf("investigate %s, unavailable %+v", st.Status, u)
	}
}

// More records than a search session returns (50,000): findings.truncated names the
// mailbox source and a note says so.
func TestInvestigationNamesTheAuditSearchCutAtTheServiceLimit(t *testing.T) {
	t.Parallel()
	sim := tenantsim.New(tenantsim.Options{PageSize: 5000})
	if _, err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	demo := tenantsim.SeedDemo(sim)
	base := time.Now().UTC().Add(-48 * time.Hour)
	for i := 0; i < 50_001; i++ {
		sim.AddAuditRecord(tenantsim.AuditRecord{UserID: demo.UPN, Time: base.Add(time.Duration(i) * time.Second), Operation: "UpdateInboxRules", ClientIP: tenantsim.HomeIP})
	}
	cred, err := identity.NewCredential(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := graph.New(graph.Options{BaseURL: sim.GraphURL(), Credential: cred})
	x, _ := exchange.New(exchange.Options{BaseURL: sim.ExchangeURL(), TenantID: sim.TenantID(), Credential: cred})
	r := &steps.Runner{Directory: g, Mailboxes: x, AuditLogs: g, MailLogs: x, SourceBudget: time.Minute}
	out := r.Run(context.Background(), steps.Investigate, steps.Input{Target: steps.Target{ID: demo.UserID, UPN: demo.UPN, Mail: demo.UPN}})
	if out.Status != runs.StepSucceeded || len(out.Findings.Unavailable) != 0 {
		t.Fatalf("investigate %s %+v", out.Status, out.Findings.Unavailable)
	}
	if !slices.Equal(out.Findings.Truncated, []string{"mailbox"}) || !strings.Contains(strings.Join(out.Findings.Notes, " "), "50,000") {
		t.Errorf("truncated %q notes %q", out.Findings.Truncated, out.Findings.Notes)
	}
}
