package report

import (
	"bytes"
	"encoding/json"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/runs"
)

func render(t *testing.T, run *runs.Run) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, run, Options{BaseURL: "https://tq.example"}); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.String()
}

// tagPattern finds the page's own tags; tenant text is escaped, so it cannot contain one.
var tagPattern = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>`)

// parsed returns the page's visible text (tags removed, entities decoded, the style sheet
// left out) and how many of each element it has. The browser test parses it for real.
func parsed(t *testing.T, page string) (text string, elements map[string]int) {
	t.Helper()
	elements = map[string]int{}
	for _, m := range tagPattern.FindAllStringSubmatch(page, -1) {
		if m[1] == "" {
			elements[strings.ToLower(m[2])]++
		}
		if regexp.MustCompile(`(?i)\son[a-z]+=`).MatchString(m[0]) {
			t.Errorf("tag with an event handler: %s", m[0])
		}
	}
	body := page[strings.Index(page, "</style>"):]
	return html.UnescapeString(tagPattern.ReplaceAllString(body, " ")), elements
}

func at(s string) *time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return &t
}

// blockSignInWithDevices is a block-sign-in step of a run with
// options.blockSignIn.disableDevices, as the store holds it.
func blockSignInWithDevices() runs.Step {
	return runs.Step{Name: string(catalog.BlockSignIn), Status: runs.StepSucceeded, Attempts: 1, Changes: []runs.Change{{
		Action: "sign_in_blocked", Target: "adele.vance@contoso.com",
		Before: map[string]any{"accountEnabled": true}, After: map[string]any{"accountEnabled": false},
		Restore: map[string]any{"accountEnabled": true},
	}, {
		Action: "device_disabled", Target: "DESKTOP-7QK2M1A (Windows 10.0.19045.3930) [5f1c2d3e-0000-4000-8000-00000000de01]",
		Before: map[string]any{"accountEnabled": true, "id": "5f1c2d3e-0000-4000-8000-00000000de01", "deviceId": "9d8e7f60-0000-4000-8000-00000000de02",
			"displayName": "DESKTOP-7QK2M1A", "operatingSystem": "Windows", "operatingSystemVersion": "10.0.19045.3930", "trustType": "Workplace",
			"registrationDateTime": "2026-11-30T00:30:00Z", "approximateLastSignInDateTime": "2026-11-30T02:20:00Z"},
		After:   map[string]any{"accountEnabled": false},
		Reasons: []string{"registered or joined at 2026-11-30T00:30:00Z, in the look-back window since 2026-11-23T03:00:00Z (the last 7 days: options.investigate.days): a device the attacker registered keeps getting tokens for the account through its own sign-in, so it is disabled (options.blockSignIn.disableDevices) until the account is secured; a restore that names block-sign-in enables it again"},
		Restore: map[string]any{"device": "5f1c2d3e-0000-4000-8000-00000000de01", "accountEnabled": true},
	}}}
}

// demoRun is shaped like a stored run of the demo tenant: Before values are JSON maps.
func demoRun(t *testing.T) *runs.Run {
	t.Helper()
	var before map[string]any
	_ = json.Unmarshal([]byte(`{"Name":"<script>alert(1)</script>","Enabled":true,"ForwardTo":["\"><img src=x onerror=alert(2)>"],"Priority":1,"MoveToFolder":null,"From":[]}`), &before)
	return &runs.Run{
		RunID: "r-1", Status: runs.ActionRequired, Reason: "INC-4711 impossible travel", RequestedBy: "analyst@contoso.com",
		User:      runs.UserRef{ID: "u-1", UserPrincipalName: "adele.vance@contoso.com"},
		CreatedAt: *at("2026-11-30T03:00:00Z"), FinishedAt: at("2026-11-30T03:00:02Z"),
		Steps: []runs.Step{
			{Name: string(catalog.UnblockSender), Status: runs.StepSkipped, Message: "remove-admin-roles did not succeed"},
			{Name: string(catalog.ResetPassword), Status: runs.StepActionRequired, Attempts: 1, Message: "synced from on-premises AD: reset the password there",
				StartedAt: at("2026-11-30T03:00:00Z"), FinishedAt: at("2026-11-30T03:00:01Z")},
			{Name: string(catalog.RemoveInboxRules), Status: runs.StepSucceeded, Attempts: 1, Changes: []runs.Change{{
				Action: "disabled", Target: "<script>alert(1)</script>", Before: before, After: map[string]any{"Enabled": false},
				Reasons: []string{"forwards mail outside the organisation", "<b>deletes</b> messages"},
			}}},
			{Name: string(catalog.RemoveAdminRoles), Status: runs.StepSucceeded, Attempts: 1, Changes: []runs.Change{{
				Action: "role_assignment_removed", Target: "Exchange Administrator at /",
				Before:  map[string]any{"roleName": "Exchange Administrator", "directoryScopeId": "/", "kind": "direct"},
				Restore: map[string]any{"kind": "direct"},
			}}},
		},
	}
}

func TestTenantValuesAreEscaped(t *testing.T) {
	page := render(t, demoRun(t))
	text, elements := parsed(t, page)
	if elements["script"] != 0 || elements["img"] != 0 || elements["b"] != 0 {
		t.Errorf("tenant text became elements: script=%d img=%d b=%d", elements["script"], elements["img"], elements["b"])
	}
	for _, want := range []string{"<script>alert(1)</script>", `"><img src=x onerror=alert(2)>`, "<b>deletes</b> messages"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q as text", want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img") {
		t.Errorf("raw markup from the tenant in the page")
	}
}

func TestPageReferencesNothingOutside(t *testing.T) {
	page := render(t, demoRun(t))
	for _, tag := range tagPattern.FindAllString(page, -1) {
		if regexp.MustCompile(`(?i)\s(src|href|srcset|action|formaction|data|poster)=`).MatchString(tag) {
			t.Errorf("tag refers to a resource: %s", tag)
		}
	}
	_, elements := parsed(t, page)
	for _, el := range []string{"script", "link", "iframe", "object", "embed", "img", "form", "base"} {
		if elements[el] != 0 {
			t.Errorf("page has %d <%s> elements", elements[el], el)
		}
	}
	style := page[strings.Index(page, "<style>"):strings.Index(page, "</style>")]
	for _, bad := range []string{"@import", "url(", "@font-face"} {
		if strings.Contains(style, bad) {
			t.Errorf("style sheet loads something: %q", bad)
		}
	}
	for _, want := range []string{"@page { size: A4", "@media print"} {
		if !strings.Contains(style, want) {
			t.Errorf("style sheet lacks %q", want)
		}
	}
}

func TestEveryStepStatusHasWords(t *testing.T) {
	cases := []struct {
		status runs.StepStatus
		words  string
	}{
		{runs.StepPending, "Waiting to run"},
		{runs.StepRunning, "Running now"},
		{runs.StepSucceeded, "Done"},
		{runs.StepNoChange, "Nothing to change"},
		{runs.StepActionRequired, "A person must act"},
		{runs.StepFailed, "Failed"},
		{runs.StepSkipped, "Skipped: a step it waits for did not succeed"},
		{runs.StepPlanned, "Would change (dry run, nothing changed)"},
		{"exploded", `Unknown status "exploded"`},
	}
	for _, c := range cases {
		t.Run(string(c.status), func(t *testing.T) {
			run := &runs.Run{RunID: "r", Status: runs.Running, User: runs.UserRef{UserPrincipalName: "a@b.c"},
				Steps: []runs.Step{{Name: string(catalog.RevokeSessions), Status: c.status}}}
			text, _ := parsed(t, render(t, run))
			if !strings.Contains(text, c.words) || !strings.Contains(text, "revoke-sessions") {
				t.Errorf("step with status %s: want %q next to revoke-sessions in\n%s", c.status, c.words, text)
			}
		})
	}
}

func TestOutcomeSentencePerRunStatus(t *testing.T) {
	cases := map[runs.Status]string{
		runs.Succeeded:      "is secured",
		runs.ActionRequired: "a person must still act",
		runs.Failed:         "failed: remove-forwarding: Exchange unreachable",
		runs.Refused:        "was refused",
		runs.Planned:        "Dry run",
		runs.Running:        "still in progress",
		awaitingApproval:    "waits for a second person",
	}
	for status, want := range cases {
		run := &runs.Run{RunID: "r", Status: status, User: runs.UserRef{UserPrincipalName: "a@b.c"},
			Error: &runs.Error{Code: "x", Message: "remove-forwarding: Exchange unreachable"}}
		text, _ := parsed(t, render(t, run))
		if !strings.Contains(text, want) {
			t.Errorf("status %s: outcome lacks %q", status, want)
		}
	}
}

func TestActionRequiredSectionNamesWhatToDo(t *testing.T) {
	text, _ := parsed(t, render(t, demoRun(t)))
	todo := text[strings.Index(text, "What a person must still do"):strings.Index(text, "Timeline of the steps")]
	for _, want := range []string{"reset-password", "synced from on-premises AD: reset the password there", "unblock-sender", "it did not run: remove-admin-roles did not succeed"} {
		if !strings.Contains(todo, want) {
			t.Errorf("to-do section lacks %q:\n%s", want, todo)
		}
	}
	if strings.Contains(todo, "remove-inbox-rules") {
		t.Errorf("a succeeded step is in the to-do section:\n%s", todo)
	}

	clean := &runs.Run{RunID: "r", Status: runs.Succeeded, User: runs.UserRef{UserPrincipalName: "a@b.c"},
		Steps: []runs.Step{{Name: "revoke-sessions", Status: runs.StepSucceeded}}}
	text, _ = parsed(t, render(t, clean))
	if !strings.Contains(text, "Nothing: no step needs a person.") {
		t.Errorf("a clean run does not say nothing is left to do")
	}
}

func TestRestoreCommandOnlyWhenRolesWereRemoved(t *testing.T) {
	withRoles := demoRun(t)
	noRoles := demoRun(t)
	noRoles.Steps = noRoles.Steps[:3]
	dry := demoRun(t)
	dry.DryRun, dry.Status = true, runs.Planned
	for i := range dry.Steps {
		dry.Steps[i].Status = runs.StepPlanned
	}
	cases := []struct {
		name string
		run  *runs.Run
		want bool
	}{{"roles removed", withRoles, true}, {"no roles", noRoles, false}, {"dry run", dry, false}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, _ := parsed(t, render(t, c.run))
			cmd := `curl -X POST "https://tq.example/api/remediations/r-1/restore-admin-roles"`
			if got := strings.Contains(text, cmd); got != c.want {
				t.Errorf("restore-admin-roles command shown = %v, want %v", got, c.want)
			}
			if got := strings.Contains(text, "/api/remediations/r-1/approve"); got {
				t.Errorf("approve shown for a run that does not wait")
			}
		})
	}
}

func TestApproveCommandWhenAwaitingApproval(t *testing.T) {
	run := &runs.Run{RunID: "r-2", Status: awaitingApproval, User: runs.UserRef{UserPrincipalName: "a@b.c"}}
	text, _ := parsed(t, render(t, run))
	for _, want := range []string{"POST /api/remediations/r-2/approve", "POST /api/remediations/r-2/reject"} {
		if !strings.Contains(text, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestApprovalIsShownInWords(t *testing.T) {
	until := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	waiting := &runs.Run{RunID: "r-3", Status: awaitingApproval, User: runs.UserRef{UserPrincipalName: "a@b.c"},
		Approval: runs.Approval{Required: true, Why: "APPROVAL_MODE=admins: the user holds <b>Global Administrator</b>", ExpiresAt: &until}}
	text, _ := parsed(t, render(t, waiting))
	for _, want := range []string{"awaits approval by a second person", "2026-11-30 07:00:00 UTC", "the user holds <b>Global Administrator</b>"} {
		if !strings.Contains(text, want) {
			t.Errorf("page of a waiting run lacks %q", want)
		}
	}
	decided := &runs.Run{RunID: "r-4", Status: runs.Rejected, User: runs.UserRef{UserPrincipalName: "a@b.c"},
		Approval: runs.Approval{Required: true, Decision: runs.DecisionRejected, DecidedBy: "bob@contoso.example", DecidedAt: &until, Reason: "false positive"}}
	text, _ = parsed(t, render(t, decided))
	for _, want := range []string{"rejected by bob@contoso.example", "false positive", "was rejected; nothing was changed"} {
		if !strings.Contains(text, want) {
			t.Errorf("page of a rejected run lacks %q", want)
		}
	}
	if strings.Contains(text, "/approve") {
		t.Error("approve shown for a decided run")
	}
}

func TestBeforeAndAfterAreReadableLists(t *testing.T) {
	text, elements := parsed(t, render(t, demoRun(t)))
	for _, want := range []string{"Before", "After", "Enabled", "yes", "no", "Priority", "1", "directoryScopeId", "kind", "direct",
		"forwards mail outside the organisation", "Inbox rule disabled", "Role assignment removed"} {
		if !strings.Contains(text, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`empty:\s+From\s*,\s+MoveToFolder`).MatchString(text) {
		t.Errorf("empty fields are not named on their own line")
	}
	if elements["dl"] < 3 {
		t.Errorf("before/after not rendered as key: value lists (dl elements: %d)", elements["dl"])
	}
	if strings.Contains(text, "map[") {
		t.Errorf("a Go map leaked into the page")
	}
}

func TestInvestigationFindingsAreShownEscaped(t *testing.T) {
	run := demoRun(t)
	run.Steps = append(run.Steps, runs.Step{Name: string(catalog.Investigate), Status: runs.StepSucceeded, Attempts: 1, Changes: []runs.Change{},
		Findings: &runs.Findings{From: "2026-11-23T03:00:00Z", To: "2026-11-30T03:00:00Z",
			Timeline: []runs.TimelineEntry{
				{Time: "2026-11-29T02:00:00Z", Source: "sign-in", What: "sign-in to OfficeHome (Browser)", IP: "198.51.100.23", Location: "Lagos, NG",
					Signals: []string{"sign-in from a country not seen in the baseline: NG"}},
				{Time: "2026-11-29T02:10:00Z", Source: "mailbox", What: `inbox rule created: "<script>alert(3)</script>"`, IP: "198.51.100.23", Detail: "ForwardTo=x@evil.example"},
			},
			Summary:     runs.FindingsSummary{SignIns: 9, FailedSignIns: 3, Countries: []string{"NG", "US"}, IPs: []string{"198.51.100.23"}, MailSent: 69, ExternalRecipients: 46, ExternalDomains: []string{"vendor0.example"}},
			Unavailable: []runs.Unavailable{{Source: "mail", Reason: "message trace: no answer within 20s"}},
			Signals:     []string{"sign-in from a country not seen in the baseline: NG"},
		}})
	page := render(t, run)
	text, elements := parsed(t, page)
	if elements["script"] != 0 {
		t.Errorf("a rule name from the audit log became a script element")
	}
	for _, want := range []string{"What happened: the investigation", `inbox rule created: "<script>alert(3)</script>"`, "198.51.100.23",
		"9 (3 failed)", "69 messages, 46 external recipients", "NG, US", "What stands out", "message trace: no answer within 20s", "Lagos, NG"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	if n := strings.Count(page, `class="flagged"`); n != 1 {
		t.Errorf("%d flagged rows, want 1", n)
	}
	// A run without investigate has no such section.
	if strings.Contains(render(t, demoRun(t)), "What happened") {
		t.Errorf("findings section without findings")
	}
}

// The related users are listed, each with the command to look at it, escaped like every
// tenant value; the attacker's addresses and the truncated sources are shown.
func TestRelatedUsersAreListedWithTheirCommandEscaped(t *testing.T) {
	run := demoRun(t)
	run.Steps = append(run.Steps, runs.Step{Name: string(catalog.Investigate), Status: runs.StepSucceeded, Attempts: 1, Changes: []runs.Change{},
		Findings: &runs.Findings{From: "2026-11-23T03:00:00Z", To: "2026-11-30T03:00:00Z",
			Indicators: runs.Indicators{IPs: []string{"198.51.100.23", "2001:db8:bad::7"}},
			Related: []runs.Related{
				{User: "lee.gu@contoso.example", Why: []string{"signed in from 198.51.100.23, an indicator address, at 2026-11-29T02:00:00Z"}},
				{User: `x"><script>alert(1)</script>@evil.example`, Why: []string{"<img src=x onerror=alert(2)>"}},
			},
			Truncated: []string{"mailbox"},
		}})
	page := render(t, run)
	text, elements := parsed(t, page)
	if elements["script"] != 0 || elements["img"] != 0 {
		t.Errorf("a related user's name became markup")
	}
	for _, want := range []string{"198.51.100.23, 2001:db8:bad::7", "Other accounts the same traces point at", "nothing was changed for them",
		"tourniquet remediate lee.gu@contoso.example --dry-run", "signed in from 198.51.100.23", `tourniquet remediate x"><script>alert(1)</script>@evil.example --dry-run`,
		"Cut at a service limit", "mailbox"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
}

// Removed MFA methods cannot be restored (the user registers again): a run that removed
// only them offers no restore command; a blocked sign-in or a revoked consent does.
func TestRestoreCommandForTheGraphContainmentSteps(t *testing.T) {
	for _, tc := range []struct {
		step, action string
		restore      any
		want         bool
	}{
		{"remove-mfa-methods", "mfa_method_removed", nil, false},
		{"block-sign-in", "sign_in_blocked", map[string]any{"accountEnabled": true}, true},
		{"block-sign-in", "device_disabled", map[string]any{"device": "d", "accountEnabled": true}, true},
		{"revoke-app-consents", "consent_revoked", map[string]any{"clientId": "c"}, true},
	} {
		run := &runs.Run{RunID: "r-3", Status: runs.Succeeded, User: runs.UserRef{UserPrincipalName: "a@b.example"},
			Steps: []runs.Step{{Name: tc.step, Status: runs.StepSucceeded, Changes: []runs.Change{{Action: tc.action, Target: "x", Restore: tc.restore}}}}}
		text, _ := parsed(t, render(t, run))
		if got := strings.Contains(text, `/api/remediations/r-3/restore"`); got != tc.want {
			t.Errorf("%s: restore command shown = %v, want %v", tc.step, got, tc.want)
		}
		if !strings.Contains(text, actionNames[tc.action]) {
			t.Errorf("%s: %q not on the page", tc.step, actionNames[tc.action])
		}
	}
}

// TestApproveCommandsForARestoreAwaitingApproval: a restoration that awaits approval shows
// why and the approve / reject commands with its id; an id of another shape (written into
// the store by hand) never goes into a command a person pastes into a shell.
func TestApproveCommandsForARestoreAwaitingApproval(t *testing.T) {
	for _, c := range []struct {
		id   string
		want bool
	}{{"0123456789abcdef", true}, {"x'; rm -rf ~; '", false}} {
		run := demoRun(t)
		run.Restorations = []runs.Restoration{{ID: c.id, At: run.CreatedAt, RequestedBy: "alice", Status: "awaiting_approval", Changes: []runs.Change{},
			Approval: &runs.Approval{Required: true, Why: "APPROVAL_MODE=admins: the restore grants privilege back (Exchange Administrator)"}}}
		text, _ := parsed(t, render(t, run))
		body := `{"restorationId":"` + c.id + `","reason":"<why>"}`
		if got := strings.Contains(text, "/api/remediations/r-1/approve") && strings.Contains(text, body); got != c.want {
			t.Errorf("id %q: approve command shown = %v, want %v\n%s", c.id, got, c.want, text)
		}
		if got := strings.Contains(text, "Waits for approval: APPROVAL_MODE=admins"); got != c.want {
			t.Errorf("id %q: why shown = %v, want %v", c.id, got, c.want)
		}
		if strings.Contains(text, "rm -rf") && strings.Contains(text, "restorationId") && c.want == false {
			t.Errorf("a hand-written restoration id went into a command")
		}
	}
}

// The eviction watch is shown: its verdict in words (no_return_seen is never "nothing
// happened"), what each check looks at, what came back (tenant text escaped), the
// re-containing runs and what was not checked.
func TestWatchIsShown(t *testing.T) {
	run := demoRun(t)
	last := run.CreatedAt.Add(time.Hour)
	run.Watch = &runs.Watch{Until: last, Interval: "15m0s", Checks: 4, LastCheckAt: &last, Verdict: runs.WatchReturned,
		Checked:       []string{"mailbox forwarding set again"},
		Hits:          []runs.WatchHit{{Time: last, Kind: "inbox-rule", Detail: "new inbox rule <script>alert(1)</script>"}},
		RecontainRuns: []string{"20261207t142000-aaaa"},
		Unavailable:   []runs.Unavailable{{Source: "sign-ins", Reason: "no Entra ID P1"}},
		Notes:         []string{"non-interactive sign-ins: not every one was read <b>beta</b>"}}
	page := render(t, run)
	for _, want := range []string{`id="watch"`, "the attacker returned: re-contained", "mailbox forwarding set again",
		"new inbox rule &lt;script&gt;alert(1)&lt;/script&gt;", "20261207t142000-aaaa", "no Entra ID P1",
		`id="watch-notes"`, "not every one was read &lt;b&gt;beta&lt;/b&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Fatal("a hit's detail reached the page unescaped")
	}
	run.Watch.Verdict, run.Watch.Hits = runs.WatchNoReturnSeen, nil
	if page := render(t, run); !strings.Contains(page, "not proof that nothing happened") {
		t.Error("no_return_seen reads as if nothing happened")
	}
}

// The footer names the deployment's last preflight when the handler has one.
func TestFooterShowsThePreflight(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, demoRun(t), Options{Preflight: "degraded: 12 of 13 steps ready, checked <now>"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Preflight of this deployment (GET /api/preflight): degraded: 12 of 13 steps ready, checked &lt;now&gt;.</footer>") {
		t.Fatalf("footer: %s", buf.String()[max(0, buf.Len()-400):])
	}
}

// A way in the attacker left elsewhere in the tenant is on the list of what a person must
// still do, though the investigation succeeded: no step undoes it.
func TestPersistenceIsAmongWhatAPersonMustStillDo(t *testing.T) {
	run := demoRun(t)
	sig := runs.PersistenceSignal + `Add service principal credentials at 2026-11-29T02:05:00Z from 198.51.100.23 (a secret <b>added</b>): no containment step undoes it; review it and undo it by hand`
	run.Steps = append(run.Steps, runs.Step{Name: string(catalog.Investigate), Status: runs.StepSucceeded, Attempts: 1, Changes: []runs.Change{},
		Findings: &runs.Findings{From: "2026-11-23T03:00:00Z", To: "2026-11-30T03:00:00Z", Signals: []string{"sign-in from a country not seen in the baseline: NG", sig}}})
	page := render(t, run)
	i, j := strings.Index(page, `id="todo"`), strings.Index(page, "Timeline of the steps")
	if i < 0 || j < i {
		t.Fatal("no list of what a person must still do")
	}
	todo := page[i:j]
	if !strings.Contains(todo, "<code>investigate</code>: possible persistence: Add service principal credentials") || !strings.Contains(todo, "a secret &lt;b&gt;added&lt;/b&gt;") {
		t.Errorf("the persistence signal is not among what a person must still do:\n%s", todo)
	}
	if strings.Contains(todo, "country not seen") {
		t.Error("an ordinary signal was put among what a person must do")
	}
}
