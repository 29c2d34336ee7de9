package report

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/runs"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.html from the current code")

// goldenRuns cover every part of the page: each fact, each step status, before and after in
// every shape, the findings, each command and restorations. The pages in testdata/golden
// were first written by the html/template page this code replaced (issue 25), so a change
// to them is a change of the page that a reviewer sees.
func goldenRuns(t *testing.T) map[string]*runs.Run {
	t.Helper()
	waiting := demoRun(t)
	waiting.RunID, waiting.Status, waiting.FinishedAt = "r-wait", runs.AwaitingApproval, nil
	waiting.Mode, waiting.IdempotencyKey = "sync", "INC-4711+retry"
	waiting.User.Mail, waiting.User.OnPremisesSyncEnabled = "adele@contoso.com", true
	waiting.Approval = runs.Approval{Required: true, Why: "the user holds <b>Global Administrator</b>", ExpiresAt: at("2026-11-30T07:00:00Z")}
	waiting.Steps = append(waiting.Steps,
		runs.Step{Name: string(catalog.RevokeSessions), Status: runs.StepFailed, Attempts: 2, Error: &runs.Error{Code: "graph_error", Message: `Graph said "no" & <gave up>`}},
		runs.Step{Name: string(catalog.BlockSignIn), Status: runs.StepPending},
		runs.Step{Name: "not-in-the-catalog", Status: "exploded", Message: "line one\nline two\x00"},
		runs.Step{Name: string(catalog.Investigate), Status: runs.StepSucceeded, Attempts: 1, StartedAt: at("2026-11-30T03:00:00Z"),
			Findings: &runs.Findings{From: "2026-11-23T03:00:00Z", To: "2026-11-30T03:00:00Z",
				Timeline: []runs.TimelineEntry{
					{Time: "2026-11-29T02:00:00Z", Source: "sign-in", What: "sign-in to OfficeHome", IP: "198.51.100.23", Location: "Lagos, NG",
						Signals: []string{"sign-in from a country not seen in the baseline: NG", "<i>two</i>"}, SessionID: "5e55100a-0000-4000-8000-00000000a771", TokenID: "tok"},
					{Time: "2026-11-29T02:10:00Z", Source: "mailbox", What: `inbox rule created: "<script>alert(3)</script>"`, Detail: "ForwardTo=x+y@evil.example", SessionID: "<b>s</b>"},
				},
				Indicators: runs.Indicators{IPs: []string{"198.51.100.23"}, SessionIDs: []string{"5e55100a-0000-4000-8000-00000000a771"}},
				MailItemsAccessed: []runs.MailAccess{{SessionID: "5e55100a-0000-4000-8000-00000000a771", IPs: []string{"198.51.100.23"}, First: "2026-11-29T02:20:00Z",
					Last: "2026-11-29T02:30:00Z", Records: 3, Items: 25, Folders: []string{`\Inbox`, "<b>x</b>"}, Attacker: true}},
				Summary:     runs.FindingsSummary{SignIns: 9, FailedSignIns: 3, Countries: []string{"NG", "US"}, IPs: []string{"198.51.100.23"}, MailSent: 69, ExternalRecipients: 46},
				Unavailable: []runs.Unavailable{{Source: "mail", Reason: "message trace: no answer within 20s"}},
				Signals:     []string{"sign-in from a country not seen in the baseline: NG"},
				Notes:       []string{"the timeline is cut to 500 events"},
			}},
		runs.Step{Name: string(catalog.RemoveMailboxDelegates), Status: runs.StepPlanned, Changes: []runs.Change{
			{Action: "full_access_removed", Target: "bob@contoso.com", After: map[string]any{"delegates": []any{}, "nested": map[string]any{"list": []any{"a", 1.5, nil, map[string]any{"k": "v"}}}}},
			{Action: "some_new_action", Target: "", Before: []any{"one", "two"}, After: "scalar"},
			{Action: "", Target: "t", Before: map[string]any{}},
		}},
	)
	decided := demoRun(t)
	decided.RunID, decided.Status = "r-decided", runs.Rejected
	decided.RequestedBy, decided.Reason = "", ""
	decided.Error = &runs.Error{Code: "rejected", Message: "a second person rejected the run"}
	decided.Approval = runs.Approval{Required: true, Decision: runs.DecisionRejected, DecidedBy: "bob@contoso.example", DecidedAt: at("2026-11-30T04:00:00Z"), Reason: "false positive"}
	decided.Restorations = []runs.Restoration{
		{At: *at("2026-11-30T05:00:00Z"), RequestedBy: "carol@contoso.com", Status: "succeeded", Changes: []runs.Change{{Action: "restored", Target: "Exchange Administrator at /",
			After: map[string]any{"roleName": "Exchange Administrator"}}}},
		{Status: "failed", Error: &runs.Error{Code: "graph_error", Message: "forbidden"}},
	}
	dry := demoRun(t)
	dry.RunID, dry.DryRun, dry.Status = "r-dry", true, runs.Planned
	for i := range dry.Steps {
		dry.Steps[i].Status = runs.StepPlanned
	}
	demo := demoRun(t)
	demo.Steps = append(demo.Steps, blockSignInWithDevices())
	return map[string]*runs.Run{
		"demo":     demo,
		"waiting":  waiting,
		"decided":  decided,
		"dry-run":  dry,
		"no-steps": {RunID: "r-empty", Status: runs.Queued, CreatedAt: time.Time{}},
	}
}

// The page of each golden run is byte for byte the one in testdata/golden (go test -update
// rewrites them; review the difference).
func TestPagesMatchGolden(t *testing.T) {
	for name, run := range goldenRuns(t) {
		t.Run(name, func(t *testing.T) {
			got := render(t, run)
			path := filepath.Join("testdata", "golden", name+".html")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestPagesMatchGolden -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("the page of %s differs from %s at byte %d:\n got …%s…\nwant …%s…", name, path, firstDifference(got, string(want)),
					around(got, firstDifference(got, string(want))), around(string(want), firstDifference(got, string(want))))
			}
		})
	}
}

func firstDifference(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

func around(s string, i int) string {
	lo, hi := max(0, i-80), min(len(s), i+80)
	return strings.ReplaceAll(s[lo:hi], "\n", `\n`)
}

// Every value is escaped as html/template escaped it, so that a page saved before still
// compares equal, and put refuses markup and values that do not match.
func TestEscapingAndPut(t *testing.T) {
	var w writer
	w.put(`<p class="%s">%s</p>`, `a"b`, "\x00<script>'&+</script>")
	if got, want := w.String(), `<p class="a&#34;b">`+"\uFFFD"+`&lt;script&gt;&#39;&amp;&#43;&lt;/script&gt;</p>`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, c := range []struct {
		markup string
		values []string
	}{{"<p>%s</p>", nil}, {"<p></p>", []string{"x"}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("put(%q, %q) did not panic", c.markup, c.values)
				}
			}()
			var w writer
			w.put(c.markup, c.values...)
		}()
	}
}
