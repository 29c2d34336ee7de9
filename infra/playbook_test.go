package infra

import (
	"encoding/json"
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
