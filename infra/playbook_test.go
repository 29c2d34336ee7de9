package infra

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// htmlEscape is the Logic Apps expression the playbook wraps around every value it puts in
// an incident comment (HTML): & first, then < > ", so no value can add markup or a link.
const (
	htmlEscapeOpen  = "replace(replace(replace(replace(string(coalesce("
	htmlEscapeClose = `, '')), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;')`
)

// interpolations returns the expressions of the @{...} in a workflow string, skipping braces
// inside '...' literals (” is a quote within one).
func interpolations(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for i := 0; ; {
		j := strings.Index(s[i:], "@{")
		if j < 0 {
			return out
		}
		start := i + j + 2
		depth, quoted, k := 1, false, start
		for ; k < len(s) && depth > 0; k++ {
			switch c := s[k]; {
			case quoted && c == '\'' && k+1 < len(s) && s[k+1] == '\'':
				k++
			case c == '\'':
				quoted = !quoted
			case !quoted && c == '{':
				depth++
			case !quoted && c == '}':
				depth--
			}
		}
		if depth != 0 {
			t.Fatalf("unbalanced @{ in %q", s)
		}
		out = append(out, s[start:k-1])
		i = k
	}
}

func escaped(expr string) bool {
	return strings.HasPrefix(expr, htmlEscapeOpen) && strings.HasSuffix(expr, htmlEscapeClose)
}

// Every value that reaches an incident comment (run fields, step messages, error messages,
// the user, an error answer) is HTML-escaped: directly, or in the Select whose items the
// comment joins. Step messages and inbox rule names come from the tenant, where the attacker
// names things; the comment is HTML.
func TestPlaybookCommentsEscapeEveryValue(t *testing.T) {
	raw := read(t, "infra/playbooks/sentinel-remediate/workflow.json")
	var root any
	if err := json.Unmarshal([]byte(raw), &root); err != nil {
		t.Fatalf("workflow.json: %v", err)
	}
	selects := map[string]string{}
	var comments []string
	var walk func(name string, v any)
	walk = func(name string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "Select" {
				in, _ := x["inputs"].(map[string]any)
				sel, _ := in["select"].(string)
				selects[name] = sel
			}
			if in, ok := x["inputs"].(map[string]any); ok && in["path"] == "/Incidents/Comment" {
				body, _ := in["body"].(map[string]any)
				msg, _ := body["message"].(string)
				comments = append(comments, name+"\x00"+msg)
			}
			for k, child := range x {
				walk(k, child)
			}
		case []any:
			for _, child := range x {
				walk(name, child)
			}
		}
	}
	walk("", root)
	if len(comments) < 4 {
		t.Fatalf("found %d comment actions, want the playbook's four or more", len(comments))
	}
	values := 0
	for _, c := range comments {
		name, msg, _ := strings.Cut(c, "\x00")
		if strings.HasPrefix(msg, "@") && !strings.HasPrefix(msg, "@{") {
			t.Errorf("%s: the whole message is one expression; it must be HTML with escaped values", name)
		}
		for _, expr := range interpolations(t, msg) {
			values++
			if escaped(expr) {
				continue
			}
			if rest, ok := strings.CutPrefix(expr, "join(body('"); ok {
				sel, _, _ := strings.Cut(rest, "')")
				if s, found := selects[sel]; found && escaped(strings.TrimPrefix(s, "@")) && strings.HasPrefix(s, "@") {
					continue
				}
				t.Errorf("%s joins the items of %s, which are not HTML-escaped: %q", name, sel, selects[sel])
				continue
			}
			t.Errorf("%s puts a value in the comment without HTML-escaping it: @{%s}", name, expr)
		}
	}
	if values == 0 {
		t.Fatal("no value found in any comment")
	}
	// The escape itself, by what it does to an attacker's inbox rule name.
	in := `<img src=x onerror="alert(1)">&amp;`
	out := strings.NewReplacer("&", "&amp;").Replace(in)
	out = strings.NewReplacer("<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(out)
	if out != `&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;` {
		t.Fatalf("the order & < > \" escapes to %q", out)
	}
}

// workflowAction finds the action named name anywhere in the workflow, with the chain of
// actions (and branches) that hold it.
func workflowAction(root map[string]any, name string) (action map[string]any, path []string) {
	var find func(actions map[string]any, trail []string) bool
	find = func(actions map[string]any, trail []string) bool {
		for n, raw := range actions {
			a, _ := raw.(map[string]any)
			if n == name {
				action, path = a, append(trail, n)
				return true
			}
			if sub, ok := a["actions"].(map[string]any); ok && find(sub, append(trail, n)) {
				return true
			}
			if e, ok := a["else"].(map[string]any); ok {
				if sub, ok := e["actions"].(map[string]any); ok && find(sub, append(trail, n+".else")) {
					return true
				}
			}
		}
		return false
	}
	actions, _ := root["actions"].(map[string]any)
	find(actions, nil)
	return action, path
}

// The playbook acts only on what POST /api/triage/sentinel decided (issue 26: the account
// entities of a phishing incident are its recipients, those of a spray the attacker's
// picks): it sends the incident to the triage first, loops over the triage's accounts, never
// over the incident's entities, starts a real run only for "remediate", a dry run for
// "dry_run" (under a key of its own, so the later real run is not the dry run replayed), and
// only comments the others.
func TestPlaybookActsOnlyOnTheTriagesDecision(t *testing.T) {
	raw := read(t, "infra/playbooks/sentinel-remediate/workflow.json")
	var root map[string]any
	if err := json.Unmarshal([]byte(raw), &root); err != nil {
		t.Fatal(err)
	}
	str := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	// The triage gets the parts of the trigger's object it reads (labels, each alert's
	// product, name, type, compromisedEntity and entities, the related entities): an
	// incident's alerts carry their rule's KQL, which could take the whole body past 1 MiB.
	triage, _ := workflowAction(root, "Triage_incident")
	in, _ := triage["inputs"].(map[string]any)
	wantBody := `{"id":"@triggerBody()?['object']?['id']","name":"@triggerBody()?['object']?['name']","properties":{"alerts":"@body('Select_alerts')","labels":"@triggerBody()?['object']?['properties']?['labels']","relatedEntities":"@triggerBody()?['object']?['properties']?['relatedEntities']"}}`
	if triage["type"] != "Http" || in["method"] != "POST" || !strings.HasSuffix(str(in["uri"]), `/api/triage/sentinel"`) ||
		str(in["body"]) != wantBody || !strings.Contains(str(in["headers"]), "x-functions-key") ||
		!strings.Contains(str(triage["runtimeConfiguration"]), "secureData") {
		t.Errorf("Triage_incident = %s, want a POST of the trigger's incident to /api/triage/sentinel with the key, inputs secured", str(triage))
	}
	sel, _ := workflowAction(root, "Select_alerts")
	selIn, _ := sel["inputs"].(map[string]any)
	if got := str(selIn["select"]); got != `{"properties":{"alertDisplayName":"@item()?['properties']?['alertDisplayName']","alertType":"@item()?['properties']?['alertType']","compromisedEntity":"@item()?['properties']?['compromisedEntity']","entities":"@item()?['properties']?['entities']","productName":"@item()?['properties']?['productName']"}}` ||
		!strings.Contains(str(selIn["from"]), "['Alerts']") || !strings.Contains(str(selIn["from"]), "['alerts']") {
		t.Errorf("Select_alerts = %s, want each alert's product, name, type, compromisedEntity and entities, from Alerts or alerts", str(sel))
	}
	if failed, _ := workflowAction(root, "Comment_not_triaged"); !strings.Contains(str(failed["runAfter"]), `"Triage_incident":["Failed","TimedOut"]`) {
		t.Errorf("no comment when the triage fails: %s", str(failed))
	}

	each, _ := workflowAction(root, "For_each_account")
	if each["foreach"] != "@body('Triage_incident')?['accounts']" || !strings.Contains(str(each["runAfter"]), `"Triage_incident":["Succeeded"]`) {
		t.Errorf("For_each_account loops over %v after %v, want the triage's accounts", each["foreach"], each["runAfter"])
	}
	if strings.Contains(raw, "/entities/account") || strings.Count(raw, "['relatedEntities']") != 1 {
		t.Error("the workflow reads the incident's entities itself: it must act on the triage's accounts only")
	}

	start, path := workflowAction(root, "Start_remediation")
	if strings.Count(raw, `/api/remediations"`) != 1 || !slices.Equal(path, []string{"For_each_account", "If_act", "Start_remediation"}) {
		t.Fatalf("Start_remediation at %v (and %d starts), want one, inside For_each_account/If_act", path, strings.Count(raw, `/api/remediations"`))
	}
	ifAct, _ := workflowAction(root, "If_act")
	const decision = "@items('For_each_account')?['decision']"
	wantExpr := `{"or":[{"equals":["` + decision + `","remediate"]},{"equals":["` + decision + `","dry_run"]}]}`
	if got := str(ifAct["expression"]); got != wantExpr {
		t.Errorf("If_act expression = %s, want %s", got, wantExpr)
	}
	if e := str(ifAct["else"]); strings.Contains(e, `"Http"`) || !strings.Contains(e, "Comment_skipped") {
		t.Errorf("the skip branch = %s, want a comment and no HTTP call", e)
	}
	body, _ := start["inputs"].(map[string]any)["body"].(map[string]any)
	if body["user"] != "@{items('For_each_account')?['user']}" || body["dryRun"] != "@equals(items('For_each_account')?['decision'], 'dry_run')" {
		t.Errorf("Start_remediation user %v dryRun %v, want the triage's user, and a dry run for dry_run", body["user"], body["dryRun"])
	}
	if !strings.Contains(str(body["reason"]), "items('For_each_account')?['why']") {
		t.Errorf("reason %v does not record the triage's why", body["reason"])
	}
	if key := str(body["idempotencyKey"]); !strings.Contains(key, "'sentinel-dryrun:', 'sentinel:'") {
		t.Errorf("idempotencyKey %s: a dry run needs a key of its own", key)
	}

	ifDry, _ := workflowAction(root, "If_dry_run")
	plan, planPath := workflowAction(root, "Comment_dry_run_plan")
	msg := str(plan["inputs"])
	if !strings.Contains(str(ifDry["expression"]), `"@body('Get_run')?['dryRun']",true`) || !slices.Equal(planPath, []string{"For_each_account", "If_act", "If_dry_run", "Comment_dry_run_plan"}) ||
		!strings.Contains(msg, "nothing was changed") || !strings.Contains(msg, "items('For_each_account')?['why']") || !strings.Contains(msg, "tourniquet:remediate:") {
		t.Errorf("the dry run's comment (%v) must say nothing was changed, why, the plan and how to act: %s", planPath, msg)
	}
	if skip, _ := workflowAction(root, "Comment_skipped"); !strings.Contains(str(skip["inputs"]), "items('For_each_account')?['why']") {
		t.Error("the skip comment does not say why")
	}
}
