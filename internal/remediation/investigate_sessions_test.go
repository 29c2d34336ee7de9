package remediation_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// investigateDemo runs investigate alone, sync, for the demo user and returns its findings.
func investigateDemo(t *testing.T, e *env, reason string) *runs.Findings {
	t.Helper()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: reason, Steps: []string{"investigate"}})
	st, _ := findingsOf(t, e.get(run.RunID))
	if st.Status != runs.StepSucceeded || st.Findings == nil {
		t.Fatalf("investigate %s %+v", st.Status, st.Error)
	}
	return st.Findings
}

func entriesWhere(f *runs.Findings, keep func(runs.TimelineEntry) bool) []runs.TimelineEntry {
	var out []runs.TimelineEntry
	for _, en := range f.Timeline {
		if keep(en) {
			out = append(out, en)
		}
	}
	return out
}

// Sign-ins are read from Graph beta with the signInEventTypes filter: the attacker's
// non-interactive sign-in (its token at work) is in the timeline with its session and
// token ids, and the mailbox changes whose AppAccessContext names the attacker's session
// are tied to the sign-in that opened it; the sessions become indicators.
func TestInvestigationReadsNonInteractiveSignInsAndTiesActionsToTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.ResetRequests()
	f := investigateDemo(t, e, "INC-24h")

	kinds := map[string]bool{}
	for _, r := range e.sim.Requests() {
		if r.Path == "/beta/auditLogs/signIns" {
			q, _ := url.ParseQuery(r.RawQuery)
			f := q.Get("$filter")
			_, kind, _ := strings.Cut(f, " and (signInEventTypes/any(t: t eq '")
			kinds[strings.TrimSuffix(kind, "'))")] = true
		}
	}
	if !kinds["interactiveUser"] || !kinds["nonInteractiveUser"] || len(kinds) != 2 {
		t.Fatalf("beta sign-in listings asked for %v, want interactiveUser and nonInteractiveUser", kinds)
	}
	replay := entriesWhere(f, func(en runs.TimelineEntry) bool {
		return en.Source == "sign-in" && strings.HasPrefix(en.What, "non-interactive sign-in to")
	})
	if len(replay) != 1 || replay[0].IP != tenantsim.AttackerIP || replay[0].SessionID != tenantsim.AttackerSession || replay[0].TokenID == "" || len(replay[0].Signals) == 0 {
		t.Fatalf("non-interactive sign-ins %+v", replay)
	}
	if f.Summary.NonInteractiveSignIns != 1 {
		t.Errorf("summary %+v", f.Summary)
	}
	for _, n := range f.Notes {
		if strings.Contains(n, "only interactive sign-ins") {
			t.Errorf("note %q although beta answered", n)
		}
	}
	if want := []string{tenantsim.AttackerSession, tenantsim.AttackerSession2}; !slices.Equal(f.Indicators.SessionIDs, want) {
		t.Errorf("indicator sessions %q, want %q", f.Indicators.SessionIDs, want)
	}
	rule := entriesWhere(f, func(en runs.TimelineEntry) bool { return strings.HasPrefix(en.What, `inbox rule created: "Sync"`) })
	if len(rule) != 1 || rule[0].SessionID != tenantsim.AttackerSession ||
		!slices.ContainsFunc(rule[0].Signals, func(s string) bool {
			return strings.Contains(s, "in session "+tenantsim.AttackerSession+", opened by the new sign-in from "+tenantsim.AttackerIP)
		}) {
		t.Errorf("the rule is not tied to the attacker's session: %+v", rule)
	}
	// v1.0 sign-ins carry no session: the home sign-ins (interactive) still have theirs
	// from beta.
	for _, en := range f.Timeline {
		if en.Source == "sign-in" && en.SessionID == "" {
			t.Errorf("sign-in without its session id: %+v", en)
		}
	}
}

// A sign-in in the attacker's session from an address the investigation had not
// attributed to the attacker is the session's token used elsewhere: flagged, and its
// address becomes an indicator the eviction watch looks for.
func TestInvestigationFollowsTheAttackersSessionToAnotherAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	const elsewhere = "192.0.2.99"
	e.sim.AddSignIn(tenantsim.SignIn{UserID: e.demo.UserID, Time: time.Now().Add(-100 * time.Minute), App: "Office 365 Exchange Online",
		ClientApp: "Mobile Apps and Desktop clients", IP: elsewhere, City: "Amsterdam", Country: "NL", NonInteractive: true,
		SessionID: tenantsim.AttackerSession})
	f := investigateDemo(t, e, "INC-24i")
	if !slices.Contains(f.Indicators.IPs, elsewhere) {
		t.Errorf("indicators %q lack %s, where the attacker's session was used", f.Indicators.IPs, elsewhere)
	}
	used := entriesWhere(f, func(en runs.TimelineEntry) bool { return en.Source == "sign-in" && en.IP == elsewhere })
	if len(used) != 1 || !slices.ContainsFunc(used[0].Signals, func(s string) bool { return strings.Contains(s, "token is used from another address") }) {
		t.Errorf("sign-in from %s: %+v", elsewhere, used)
	}
}

// Where beta refuses, v1.0 is read (interactive sign-ins only) and a note names it; the
// sign-in source is not unavailable for it.
func TestInvestigationSaysSoWhenBetaSignInsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.RefuseBetaSignIns(true)
	f := investigateDemo(t, e, "INC-24j")
	if len(f.Unavailable) != 0 || f.Summary.SignIns != 17 || f.Summary.NonInteractiveSignIns != 0 {
		t.Errorf("unavailable %+v, summary %+v", f.Unavailable, f.Summary)
	}
	note := ""
	for _, n := range f.Notes {
		if strings.Contains(n, "only interactive sign-ins were read (Graph v1.0)") {
			note = n
		}
	}
	if !strings.Contains(note, "beta endpoint") || !strings.Contains(note, "400") {
		t.Errorf("no note naming the refusal in %q", f.Notes)
	}
	if replay := entriesWhere(f, func(en runs.TimelineEntry) bool { return strings.Contains(en.What, "non-interactive") }); len(replay) != 0 {
		t.Errorf("non-interactive sign-ins from v1.0: %+v", replay)
	}
	// The attack is still found through the interactive sign-ins.
	if !slices.Contains(f.Indicators.IPs, tenantsim.AttackerIP) {
		t.Errorf("indicators %q", f.Indicators.IPs)
	}
}

// The attacker's folder permission change (the colleague's account let into the inbox) is
// found, tied to the attacker, and starts the clock; calendar sharing does not.
func TestInvestigationFindsFolderPermissionChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.AddAuditRecord(tenantsim.AuditRecord{UserID: e.demo.UPN, Time: time.Now().Add(-3 * 24 * time.Hour), Operation: "Set-MailboxFolderPermission",
		ClientIP: tenantsim.HomeIP, Parameters: [][2]string{{"Identity", e.demo.UPN + `:\Calendar`}, {"User", e.demo.ManagerUPN}, {"AccessRights", "Editor"}}})
	f := investigateDemo(t, e, "INC-24k")
	inbox := entriesWhere(f, func(en runs.TimelineEntry) bool { return strings.HasPrefix(en.What, "folder permission added") })
	if len(inbox) != 1 || !strings.Contains(inbox[0].What, e.demo.AssistantUPN) || !strings.Contains(inbox[0].What, `\Inbox`) ||
		inbox[0].IP != tenantsim.AttackerIP || len(inbox[0].Signals) == 0 {
		t.Fatalf("folder permission entries %+v", inbox)
	}
	calendar := entriesWhere(f, func(en runs.TimelineEntry) bool { return strings.HasPrefix(en.What, "folder permission changed") })
	if len(calendar) != 1 || len(calendar[0].Signals) != 0 || slices.Contains(f.Indicators.IPs, tenantsim.HomeIP) {
		t.Errorf("calendar sharing from home: %+v, indicators %q", calendar, f.Indicators.IPs)
	}
}

// MailItemsAccessed is summarised per session, not per item: the attacker's Lagos session
// opened 25 messages, the Moscow session synced the inbox, the user's own reading is
// neither flagged nor attributed.
func TestInvestigationCountsMailReadPerSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	f := investigateDemo(t, e, "INC-24l")
	by := map[string]runs.MailAccess{}
	for _, a := range f.MailItemsAccessed {
		by[a.SessionID] = a
	}
	lagos, moscow, own := by[tenantsim.AttackerSession], by[tenantsim.AttackerSession2], by[""]
	if lagos.Items != tenantsim.AttackerReadItems || lagos.Records != 3 || !lagos.Attacker || !slices.Equal(lagos.IPs, []string{tenantsim.AttackerIP}) {
		t.Errorf("Lagos session %+v", lagos)
	}
	if moscow.Syncs != 1 || moscow.Items != 0 || !moscow.Attacker {
		t.Errorf("Moscow session %+v", moscow)
	}
	if own.Items != 18 || own.Attacker {
		t.Errorf("the user's own reading %+v", own)
	}
	entries := entriesWhere(f, func(en runs.TimelineEntry) bool { return strings.Contains(en.What, "MailItemsAccessed") })
	if len(entries) != 3 {
		t.Errorf("%d MailItemsAccessed timeline entries, want one per session (3): %+v", len(entries), entries)
	}
	for _, en := range entries {
		if attacker := en.SessionID != ""; attacker != (len(en.Signals) > 0) {
			t.Errorf("entry %+v: flagged %v", en, len(en.Signals) > 0)
		}
	}
}

// A tenant whose mailboxes do not record MailItemsAccessed (no Audit Premium): the
// records are unavailable with the reason read from Get-Mailbox, and not searched for.
func TestInvestigationSaysWhenMailReadIsNotRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.SetMailItemsAccessedAudited(false)
	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-24m", Steps: []string{"investigate"}})
	st, _ := findingsOf(t, e.get(run.RunID))
	if st.Status != runs.StepSucceeded || !strings.Contains(st.Message, "not read: mail read (MailItemsAccessed)") {
		t.Errorf("investigate %s %q", st.Status, st.Message)
	}
	f := st.Findings
	if len(f.Unavailable) != 1 || f.Unavailable[0].Source != "mailbox" || !strings.HasPrefix(f.Unavailable[0].Reason, "mail read (MailItemsAccessed records): ") ||
		!strings.Contains(f.Unavailable[0].Reason, "AuditOwner") ||
		!strings.Contains(f.Unavailable[0].Reason, "Audit Premium") {
		t.Fatalf("unavailable %+v", f.Unavailable)
	}
	if len(f.MailItemsAccessed) != 0 {
		t.Errorf("mail items accessed %+v", f.MailItemsAccessed)
	}
	for _, r := range e.sim.Requests() {
		if r.Cmdlet == "Search-UnifiedAuditLog" && strings.Contains(string(r.Body), "MailItemsAccessed") {
			t.Errorf("searched for MailItemsAccessed although the mailbox does not record it")
		}
	}
	// The rest of the investigation is as before: the mailbox changes were read.
	if rule := entriesWhere(f, func(en runs.TimelineEntry) bool { return strings.HasPrefix(en.What, `inbox rule created: "Sync"`) }); len(rule) != 1 {
		t.Errorf("rule entries %+v", rule)
	}
	if !slices.Contains(f.Indicators.IPs, tenantsim.AttackerIP) {
		t.Errorf("indicators %q", f.Indicators.IPs)
	}
}
