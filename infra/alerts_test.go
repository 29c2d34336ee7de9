package infra

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/logevent"
)

// alertQuery is the one query of infra/modules/alerts.bicep: the trace's message (one line
// the handler wrote) parsed as JSON, its top-level "event" equal to the rule's event. Caller
// text in the line is an escaped attribute value and cannot be, or add, that attribute.
const alertQuery = `traces | where tostring(parse_json(message)["event"]) == "${r.event}"`

// alertRule is one item of alerts.bicep's `var rules = [...]`.
type alertRule struct{ name, event string }

// alertRules reads the items of `var rules = [` ... `]` in alerts.bicep: each a `{ ... }`
// with `key: 'value'` lines.
func alertRules(t *testing.T, src string) []alertRule {
	t.Helper()
	start := strings.Index(src, "var rules = [")
	if start < 0 {
		t.Fatal("no `var rules = [` in alerts.bicep")
	}
	end := strings.Index(src[start:], "\n]")
	if end < 0 {
		t.Fatal("`var rules` is not closed")
	}
	body := src[start+len("var rules = [") : start+end]
	item := regexp.MustCompile(`(?s)\n  \{\n(.*?)\n  \}`)
	field := regexp.MustCompile(`(?m)^\s*([A-Za-z]+):\s*(.*)$`)
	var out []alertRule
	for _, m := range item.FindAllStringSubmatch(body, -1) {
		var r alertRule
		for _, f := range field.FindAllStringSubmatch(m[1], -1) {
			val := strings.TrimSpace(f[2])
			switch f[1] {
			case "name", "event":
				if len(val) < 2 || val[0] != '\'' || val[len(val)-1] != '\'' || strings.ContainsAny(val[1:len(val)-1], `'\$`) {
					t.Fatalf("rule field %s: %s is not a plain string literal", f[1], val)
				}
				if f[1] == "name" {
					r.name = val[1 : len(val)-1]
				} else {
					r.event = val[1 : len(val)-1]
				}
			case "query":
				t.Errorf("rule item has a query of its own (%s): every rule uses the one query on its event", val)
			}
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		t.Fatal("no rules read from alerts.bicep")
	}
	return out
}

// The log alert rules match a field the code writes, by equality, never words in the line:
// a reason, a requester or an inbox rule's name that carries "record_tampered" must not fire
// a severity-1 alert, and a rewording of a message must not silence one.
func TestAlertRulesMatchTheEventFieldExactly(t *testing.T) {
	src := read(t, "infra/modules/alerts.bicep")
	queries := regexp.MustCompile(`(?m)^\s*query:\s*'(.*)'\s*$`).FindAllStringSubmatch(src, -1)
	if n := strings.Count(src, "query:"); n != 1 || len(queries) != 1 {
		t.Fatalf("alerts.bicep has %d query: fields (%d read); want the one query in the rule resource", n, len(queries))
	}
	q := queries[0][1]
	for _, op := range []string{" has", "contains", "matches regex", "startswith", "endswith", "search ", " like", "=~", "in~"} {
		if strings.Contains(strings.ToLower(q), op) {
			t.Errorf("the alert query uses %q: it must compare the event field by equality, not look for words", strings.TrimSpace(op))
		}
	}
	if q != alertQuery {
		t.Errorf("alert query\n  %s\nwant\n  %s", q, alertQuery)
	}
	if !strings.Contains(src, "= [for r in rules: {") {
		t.Error("the rule resource is not a loop `for r in rules`, which the query's ${r.event} names")
	}

	rules := alertRules(t, src)
	var events []string
	for _, r := range rules {
		if r.name == "" || r.event == "" {
			t.Errorf("rule %+v: every rule needs a name and an event", r)
			continue
		}
		if slices.Contains(events, r.event) {
			t.Errorf("two rules fire on the event %s", r.event)
		}
		events = append(events, r.event)
	}
	var want []string
	for _, e := range logevent.Alerted {
		want = append(want, string(e))
	}
	if got, want := sorted(events), sorted(want); !slices.Equal(got, want) {
		t.Errorf("alerts.bicep fires on the events %v; logevent.Alerted names %v", got, want)
	}
}

// Every event an alert rule fires on is logged by the code: its constant appears outside
// package logevent and outside tests (the remediation tests check each line in a real run:
// TestWatchSeesTheAttackerReturnAndReContains, TestRunFailedAndRunFinishedAreLoggedAsEvents,
// the tamper tests, TestLockoutGuardHoldsTheLastUsableGlobalAdministrator).
func TestEveryAlertedEventIsLoggedByTheCode(t *testing.T) {
	names := logeventConstants(t)
	used := map[string]bool{}
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "logevent" || d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "logevent" {
						used[sel.Sel.Name] = true
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !used["Attr"] {
		t.Error("no code logs logevent.Attr")
	}
	for _, e := range logevent.Alerted {
		name, ok := names[string(e)]
		if !ok {
			t.Errorf("logevent.Alerted names %q, which no constant of logevent.go holds", e)
			continue
		}
		if !used[name] {
			t.Errorf("the alerted event %s (logevent.%s) is logged nowhere in the code", e, name)
		}
	}
}

// logeventConstants maps the value of each Event constant of internal/logevent to its name.
func logeventConstants(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot, "internal", "logevent", "logevent.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Event" {
				continue
			}
			for i, n := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("constant %s is not a literal", n.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[v] = n.Name
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no Event constants read from internal/logevent/logevent.go")
	}
	return out
}

// The alert lines reach Application Insights whole: host.json keeps traces (the handler's
// console lines) out of adaptive sampling, which the Functions host otherwise applies to
// them under load (host.json reference: samplingSettings.excludedTypes), and an alert line
// sampled out is an alert lost.
func TestHostJSONKeepsTracesOutOfSampling(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var host struct {
		Logging struct {
			ApplicationInsights struct {
				SamplingSettings struct {
					ExcludedTypes string `json:"excludedTypes"`
				} `json:"samplingSettings"`
			} `json:"applicationInsights"`
		} `json:"logging"`
	}
	if err := json.Unmarshal(raw, &host); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(host.Logging.ApplicationInsights.SamplingSettings.ExcludedTypes, ";"), "Trace") {
		t.Errorf("host.json samplingSettings.excludedTypes = %q, want Trace among them", host.Logging.ApplicationInsights.SamplingSettings.ExcludedTypes)
	}
}
