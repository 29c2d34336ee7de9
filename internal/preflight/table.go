package preflight

import (
	"sort"
	"strings"

	"github.com/tourniquet/tourniquet/internal/catalog"
)

// Markers around the table in docs/permissions.md that NeedsTable writes
// (TestPermissionsTableIsInSync holds the page to the code).
const (
	TableStart = "<!-- step needs: generated from internal/preflight (go test ./internal/preflight -run TestPermissionsTableIsInSync -update) -->"
	TableEnd   = "<!-- end of step needs -->"
)

// NeedsTable renders Needs as the Markdown table of docs/permissions.md: one row per
// catalog step, with what the preflight checks for it.
func NeedsTable() string {
	var b strings.Builder
	b.WriteString("| step | Graph application permissions it needs | works with less without | Exchange | directory role | licence |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, st := range catalog.Steps {
		n := Needs[st.Name]
		graph := append(append([]string{}, everyStep...), n.Graph...)
		var optional []string
		for _, p := range sortedKeys(n.GraphOptional) {
			optional = append(optional, "`"+p+"`")
		}
		for _, p := range sortedKeys(n.GraphForOptions) {
			optional = append(optional, "`"+p+"` (an option or a preferred path only)")
		}
		exchange, role, licence := "", "", ""
		if n.Exchange {
			exchange = "`Exchange.ManageAsApp` and an Exchange role (Exchange Administrator, or a role group)"
		}
		if n.AdminReset {
			role = "Privileged Authentication Administrator, for accounts that hold admin roles"
		}
		switch st.Name {
		case catalog.RemoveAdminRoles:
			licence = "PIM listings need Entra ID P2 or ID Governance (without: active assignments and groups only)"
		case catalog.Investigate:
			licence = "sign-in logs need Entra ID P1; the unified audit log must be on"
		}
		b.WriteString("| `" + string(st.Name) + "` | " + codeList(graph) + " | " + strings.Join(optional, ", ") + " | " + exchange + " | " + role + " | " + licence + " |\n")
	}
	return b.String()
}

func codeList(perms []string) string {
	seen := map[string]bool{}
	var out []string
	for _, p := range perms {
		if !seen[p] {
			seen[p] = true
			out = append(out, "`"+p+"`")
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
