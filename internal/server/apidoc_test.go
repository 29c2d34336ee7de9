package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docs/api.md is the project's own description of the API: it names every route the handler
// serves and every error code it answers.
func TestAPIDocNamesEveryRouteAndErrorCode(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, p := range Patterns() {
		method, path, _ := strings.Cut(p, " ")
		// GET /api/remediations is documented with its query (?user=).
		if !strings.Contains(text, "`"+method+" "+path+"`") && !strings.Contains(text, "`"+method+" "+path+"?") {
			t.Errorf("docs/api.md does not name %s", p)
		}
	}
	for code := range statusOf {
		if !strings.Contains(text, "`"+string(code)+"`") {
			t.Errorf("docs/api.md does not name the error code %s", code)
		}
	}
}
