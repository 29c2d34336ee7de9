package remediation_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

var withInvestigate = []string{"reset-password", "revoke-sessions", "remove-forwarding", "remove-inbox-rules", "remove-admin-roles", "investigate", "unblock-sender"}

// findingsOf decodes the investigate step of the run document as a caller sees it.
func findingsOf(t *testing.T, run *runs.Run) (*runs.Step, map[string]any) {
	t.Helper()
	st := run.Step("investigate")
	if st == nil {
		t.Fatalf("no investigate step\n%s", dump(run))
	}
	doc, _ := json.Marshal(run)
	var wire struct {
		Steps []map[string]any `json:"steps"`
	}
	if err := json.Unmarshal(doc, &wire); err != nil {
		t.Fatal(err)
	}
	for _, s := range wire.Steps {
		if s["name"] == "investigate" {
			f, _ := s["findings"].(map[string]any)
			return st, f
		}
	}
	t.Fatal("investigate missing from the JSON")
	return nil, nil
}

func TestInvestigationReconstructsTheDemoAttack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.ResetRequests()
	began := time.Now()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-14", Steps: withInvestigate})
	took := time.Since(began)
	st, wire := findingsOf(t, e.get(run.RunID))
	if st.Status != runs.StepSucceeded || run.Status != runs.Succeeded || st.Findings == nil {
		t.Fatalf("run %s, investigate %s %+v\n%s", run.Status, st.Status, st.Error, dump(run))
	}
	f := st.Findings
	if len(f.Unavailable) != 0 || len(st.Changes) != 0 {
		t.Errorf("unavailable %+v, changes %+v", f.Unavailable, st.Changes)
	}

	// Oldest first, RFC 3339 UTC, addresses without ports.
	var last time.Time
	for i, en := range f.Timeline {
		at, err := time.Parse(time.RFC3339, en.Time)
		if err != nil || !strings.HasSuffix(en.Time, "Z") || at.Before(last) {
			t.Fatalf("entry %d time %q (err %v) not RFC 3339 UTC or out of order", i, en.Time, err)
		}
		last = at
		if strings.ContainsAny(en.IP, "[]") || strings.Count(en.IP, ":") == 1 {
			t.Errorf("entry %d ip %q carries a port or brackets", i, en.IP)
		}
		if !slices.Contains([]string{"sign-in", "directory", "mailbox", "mail"}, en.Source) {
			t.Errorf("entry %d source %q", i, en.Source)
		}
	}
	find := func(source, what string) *runs.TimelineEntry {
		for i := range f.Timeline {
			if f.Timeline[i].Source == source && strings.HasPrefix(f.Timeline[i].What, what) {
				return &f.Timeline[i]
			}
		}
		t.Fatalf("no %s entry %q in\n%s", source, what, dump(run))
		return nil
	}
	rule := find("mailbox", `inbox rule created: "Sync"`)
	if rule.IP != tenantsim.AttackerIP || len(rule.Signals) == 0 || !strings.Contains(rule.Signals[0], "the address of a new sign-in") {
		t.Errorf("the rule creation is not tied to the attacker's IP: %+v", rule)
	}
	fwd := find("mailbox", "mailbox forwarding set to exfil@evil.example")
	if fwd.IP != tenantsim.AttackerIPv6 || len(fwd.Signals) == 0 {
		t.Errorf("forwarding entry %+v (want ip %s with a signal)", fwd, tenantsim.AttackerIPv6)
	}
	foreign := find("sign-in", "sign-in to OfficeHome")
	if foreign.IP != tenantsim.AttackerIP || !strings.Contains(foreign.Location, "NG") || len(foreign.Signals) == 0 {
		t.Errorf("foreign sign-in %+v", foreign)
	}
	if mfa := find("directory", "User registered security info"); len(mfa.Signals) == 0 || mfa.IP != tenantsim.AttackerIP {
		t.Errorf("MFA registration %+v", mfa)
	}
	if consent := find("directory", "Consent to application"); len(consent.Signals) == 0 {
		t.Errorf("consent %+v", consent)
	}
	burst := 0
	for _, s := range f.Signals {
		if strings.Contains(s, "burst of external mail") {
			burst++
		}
	}
	for _, home := range []string{tenantsim.HomeIP, tenantsim.HomeIPv6} {
		for _, en := range f.Timeline {
			if en.Source == "sign-in" && en.IP == home && len(en.Signals) > 0 {
				t.Errorf("a sign-in from home is flagged: %+v", en)
			}
		}
	}
	if burst != 1 {
		t.Errorf("burst signals %d in %q", burst, f.Signals)
	}
	sum := f.Summary
	if sum.SignIns != 18 || sum.NonInteractiveSignIns != 1 || sum.FailedSignIns != 3 || !slices.Equal(sum.Countries, []string{"NG", "RU", "US"}) ||
		sum.MailSent != 24+tenantsim.AttackBurst || sum.ExternalRecipients != 1+tenantsim.AttackBurst || len(sum.ExternalDomains) != 10 ||
		!slices.Contains(sum.IPs, tenantsim.AttackerIP) || !slices.Contains(sum.IPs, tenantsim.AttackerIPv6) {
		t.Errorf("summary %+v", sum)
	}
	// The wire shape the contract fixes: numbers as numbers, lists as lists.
	summary, _ := wire["summary"].(map[string]any)
	for _, k := range []string{"signIns", "failedSignIns", "mailSent", "externalRecipients"} {
		if _, ok := summary[k].(float64); !ok {
			t.Errorf("summary.%s = %#v, want a number", k, summary[k])
		}
	}
	for _, k := range []string{"countries", "ips", "externalDomains"} {
		if _, ok := summary[k].([]any); !ok {
			t.Errorf("summary.%s = %#v, want a list", k, summary[k])
		}
	}
	if _, ok := wire["timeline"].([]any); !ok {
		t.Errorf("timeline %#v", wire["timeline"])
	}
	if u, ok := wire["unavailable"].([]any); !ok || len(u) != 0 {
		t.Errorf("unavailable %#v", wire["unavailable"])
	}
	first, _ := wire["timeline"].([]any)[0].(map[string]any)
	for _, k := range []string{"time", "source", "what", "ip", "location", "detail"} {
		if _, ok := first[k].(string); !ok {
			t.Errorf("timeline[0].%s = %#v", k, first[k])
		}
	}

	reads := 0
	for _, r := range e.sim.Requests() {
		if strings.Contains(r.Path, "auditLogs") || r.Cmdlet == "Search-UnifiedAuditLog" || r.Cmdlet == "Get-MessageTraceV2" {
			reads++
		}
	}
	t.Logf("investigation of 7 days for the demo user: %d events, %d signals, %d audit requests (simulator page size 2); whole sync run %s", len(f.Timeline), len(f.Signals), reads, took)
}

func TestInvestigationWithoutSignInLogsSucceedsAndSaysWhy(t *testing.T) {
	t.Parallel()
	e := newEnvSeeded(t, remediation.Config{}, tenantsim.SeedEntraFree)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-14b", Steps: []string{"investigate"}})
	st, _ := findingsOf(t, e.get(run.RunID))
	if st.Status != runs.StepSucceeded || run.Status != runs.Succeeded {
		t.Fatalf("investigate %s %+v, run %s", st.Status, st.Error, run.Status)
	}
	f := st.Findings
	if len(f.Unavailable) != 1 || f.Unavailable[0].Source != "sign-in" ||
		!strings.Contains(f.Unavailable[0].Reason, "Authentication_RequestFromNonPremiumTenantOrB2CTenant") || !strings.Contains(f.Unavailable[0].Reason, "P1") {
		t.Fatalf("unavailable %+v", f.Unavailable)
	}
	// Without sign-ins, the other sources still tell the story.
	if f.Summary.SignIns != 0 || f.Summary.MailSent == 0 {
		t.Errorf("summary %+v", f.Summary)
	}
	found := false
	for _, en := range f.Timeline {
		found = found || en.Source == "mailbox" && en.IP == tenantsim.AttackerIP
	}
	if !found {
		t.Errorf("the mailbox changes are missing: %+v", f.Timeline)
	}
}

func TestInvestigationFailsOnlyWhenNoSourceAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.FailNext(10, "auditLogs", http.StatusForbidden)
	e.sim.FailNext(10, "Search-UnifiedAuditLog", http.StatusForbidden)
	e.sim.FailNext(10, "Get-MessageTraceV2", http.StatusForbidden)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-14c", Steps: []string{"investigate"}})
	st := e.get(run.RunID).Step("investigate")
	if st.Status != runs.StepFailed || st.Error == nil || st.Error.Code != "no_source_available" || len(st.Findings.Unavailable) != 4 {
		t.Fatalf("investigate %s %+v %+v", st.Status, st.Error, st.Findings)
	}
}

func TestThrottledInvestigationReadsAreRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.ThrottleNext(1, "auditLogs/signIns", 0)
	e.sim.ThrottleNext(1, "auditLogs/directoryAudits", 0)
	e.sim.ThrottleNext(1, "Search-UnifiedAuditLog", 0)
	e.sim.ThrottleNext(1, "Get-MessageTraceV2", 0)
	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-14d", Steps: []string{"investigate"}})
	st := e.get(run.RunID).Step("investigate")
	if st.Status != runs.StepSucceeded || len(st.Findings.Unavailable) != 0 || st.Findings.Summary.SignIns == 0 || st.Findings.Summary.MailSent == 0 {
		t.Fatalf("investigate %s %+v", st.Status, st.Findings)
	}
	throttled := 0
	for _, r := range e.sim.Requests() {
		if r.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	if throttled != 4 {
		t.Errorf("%d throttled answers, want 4 (each retried)", throttled)
	}
}

func TestAHangingSourceDoesNotHoldContainment(t *testing.T) {
	t.Parallel()
	const budget = 3 * time.Second
	finishes := func(e *env, steps []string) (map[string]time.Duration, *runs.Run) {
		run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-14e", Steps: steps})
		run = e.get(run.RunID)
		out := map[string]time.Duration{}
		for _, st := range run.Steps {
			if st.FinishedAt != nil {
				out[st.Name] = st.FinishedAt.Sub(run.CreatedAt)
			}
		}
		return out, run
	}
	plain := newEnv(t, remediation.Config{})
	without, _ := finishes(plain, withInvestigate[:5])

	e := newEnv(t, remediation.Config{})
	e.svc.Runner.SourceBudget = budget
	e.sim.HoldNext(1, "Search-UnifiedAuditLog")
	with, run := finishes(e, append(withInvestigate[:5:5], "investigate", "unblock-sender"))
	inv := run.Step("investigate")
	if inv.Status != runs.StepSucceeded || len(inv.Findings.Unavailable) != 1 || inv.Findings.Unavailable[0].Source != "mailbox" ||
		!strings.Contains(inv.Findings.Unavailable[0].Reason, "no answer within 3s") {
		t.Fatalf("investigate %s %+v", inv.Status, inv.Findings.Unavailable)
	}
	if with["investigate"] < budget {
		t.Fatalf("investigate finished after %s, before the hanging source's budget of %s", with["investigate"], budget)
	}
	for _, name := range []string{"reset-password", "revoke-sessions", "remove-forwarding", "remove-inbox-rules", "remove-admin-roles", "unblock-sender"} {
		if with[name] >= budget-500*time.Millisecond {
			t.Errorf("%s finished %s after the run began: it waited for the hanging source", name, with[name])
		}
	}
	if st := run.Step("unblock-sender"); st.Status != runs.StepSucceeded {
		t.Errorf("unblock-sender %s %s", st.Status, st.Message)
	}
	t.Logf("containment finish times without investigate %v; with investigate and a hanging source %v", without, with)
}

func TestInvestigationThroughTheQueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Reason: "INC-14f", Steps: []string{"investigate", "unblock-sender"},
		Options: json.RawMessage(`{"investigate":{"days":30}}`)})
	e.drain(2) // duplicate deliveries read once and record once
	run = e.get(run.RunID)
	st := run.Step("investigate")
	if st.Status != runs.StepSucceeded || st.Findings == nil || st.Findings.Summary.SignIns != 18 || st.Attempts != 1 {
		t.Fatalf("investigate %s attempts %d %+v", st.Status, st.Attempts, st.Findings)
	}
	from, _ := time.Parse(time.RFC3339, st.Findings.From)
	to, _ := time.Parse(time.RFC3339, st.Findings.To)
	if d := to.Sub(from); d != 30*24*time.Hour {
		t.Errorf("window %s, want 30 days", d)
	}
	// A 30-day message trace is asked for in windows of at most 10 days.
	traces := 0
	for _, r := range e.sim.Requests() {
		if r.Cmdlet == "Get-MessageTraceV2" {
			traces++
		}
	}
	if traces < 3 {
		t.Errorf("%d message trace requests for 30 days, want at least 3 windows", traces)
	}
	// unblock-sender never names investigate as a reason not to act.
	if ub := run.Step("unblock-sender"); strings.Contains(ub.Message, "investigate") {
		t.Errorf("unblock-sender waited on investigate: %s", ub.Message)
	}
}

// Sources that all use up their budget end the step failed once: trying again would make
// a sync run wait past the 20 s per source the contract promises.
func TestInvestigationWhoseSourcesAllHangIsNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.svc.Runner.SourceBudget = time.Second
	for _, m := range []string{"auditLogs/signIns", "auditLogs/directoryAudits", "Search-UnifiedAuditLog", "Get-MessageTraceV2"} {
		e.sim.HoldNext(5, m)
	}
	began := time.Now()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-14g", Steps: []string{"investigate"}})
	took := time.Since(began)
	st := e.get(run.RunID).Step("investigate")
	if st.Status != runs.StepFailed || st.Attempts != 1 || len(st.Findings.Unavailable) != 4 {
		t.Fatalf("investigate %s attempts %d %+v", st.Status, st.Attempts, st.Findings)
	}
	if took > 5*time.Second {
		t.Errorf("the sync run took %s with a budget of 1s per source", took)
	}
}

// A sync run waits at most its short budget for each source; a run through the queues,
// where nobody waits on the answer, gives a slow audit search the time it takes.
func TestInvestigationGivesSlowSourcesMoreTimeThroughTheQueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.svc.Runner.SourceBudget = 300 * time.Millisecond
	e.svc.Runner.AsyncSourceBudget = 10 * time.Second
	slow := func() { e.sim.OnNextCmdlet("Search-UnifiedAuditLog", func() { time.Sleep(time.Second) }) }

	slow()
	sync := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-15", Steps: []string{"investigate"}})
	if f := sync.Step("investigate").Findings; f == nil || !slices.ContainsFunc(f.Unavailable, func(u runs.Unavailable) bool { return u.Source == "mailbox" }) {
		t.Fatalf("sync: a source slower than the sync budget was not named unavailable: %+v", f)
	}
	slow()
	async := e.start(remediation.StartRequest{User: e.demo.UPN, Reason: "INC-15", Steps: []string{"investigate"}})
	e.drain(1)
	if f := e.get(async.RunID).Step("investigate").Findings; f == nil || len(f.Unavailable) != 0 {
		t.Fatalf("async: the slow source was cut at the sync budget: %+v", f)
	}
}
