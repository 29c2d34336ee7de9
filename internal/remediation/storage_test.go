package remediation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/server"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// api serves the HTTP API over the env's service, as the handler does.
func (e *env) api(method, path string) (int, []byte) {
	e.t.Helper()
	srv := server.New(e.svc, e.svc.Store, "functionkey", slog.New(slog.NewJSONHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.Bytes()
}

// A mailbox with 500 rules: every suspicious rule is disabled, and the step's evidence (each
// affected rule's full definition and reasons) reads back whole through the API.
func TestLargeMailboxEvidenceReadsBackWholeThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnvSeeded(t, remediation.Config{}, tenantsim.SeedLargeMailbox)
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-inbox-rules"}, Reason: "INC-500"})

	code, body := e.api("GET", "/api/remediations/"+run.RunID)
	if code != http.StatusOK {
		t.Fatalf("GET run: %d %s", code, body)
	}
	var doc struct {
		Steps []struct {
			Name    string
			Status  string
			Changes []struct {
				Target  string
				Before  map[string]any
				Reasons []string
			}
		}
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Steps) != 1 || doc.Steps[0].Status != "succeeded" {
		t.Fatalf("steps %+v", doc.Steps)
	}
	changes := doc.Steps[0].Changes
	if len(changes) != tenantsim.LargeMailboxSuspicious {
		t.Fatalf("%d changes recorded, want %d", len(changes), tenantsim.LargeMailboxSuspicious)
	}

	// Every suspicious rule is disabled, every other rule untouched, and each affected rule's
	// definition in the record is the simulator's, byte for byte.
	byIdentity := map[string]tenantsim.InboxRule{}
	for _, r := range e.sim.InboxRules(e.demo.UPN) {
		byIdentity[r.Identity] = r
	}
	recorded := map[string]bool{}
	var longest string
	for _, c := range changes {
		id, _ := c.Before["Identity"].(string)
		rule, ok := byIdentity[id]
		if !ok || !slices.Contains(e.demo.SuspiciousRules, id) {
			t.Fatalf("change for %q, not a suspicious rule", id)
		}
		if c.Before["Description"] != rule.Description || c.Before["Name"] != rule.Name || len(c.Reasons) == 0 {
			t.Fatalf("rule %s: recorded definition differs from the mailbox's", id)
		}
		if len(rule.Description) > len(longest) {
			longest = rule.Description
		}
		recorded[id] = true
	}
	for _, id := range e.demo.SuspiciousRules {
		if byIdentity[id].Enabled || !recorded[id] {
			t.Errorf("suspicious rule %s: enabled %v, recorded %v", id, byIdentity[id].Enabled, recorded[id])
		}
	}
	for _, id := range e.demo.BenignRules {
		if !byIdentity[id].Enabled {
			t.Errorf("benign rule %s was disabled", id)
		}
	}
	if !strings.Contains(string(body), mustJSONString(longest)) {
		t.Fatalf("the longest description (%d bytes) is not in the API answer byte for byte", len(longest))
	}

	// Where and how large the record is.
	stored, _ := e.svc.Store.Get(context.Background(), run.RunID)
	evidence, _ := json.Marshal(stored.Step("remove-inbox-rules").Changes)
	parts, props := partEntities(t, e, run.RunID)
	t.Logf("evidence of %d rules: %d bytes UTF-8, %d bytes UTF-16, longest description %d bytes; stored in %d part entities (%d string properties) of the run's partition",
		len(changes), len(evidence), 2*len(utf16.Encode([]rune(string(evidence)))), len(longest), parts, props)
	if parts == 0 {
		t.Fatal("evidence of this size should not fit in the step entity")
	}
	if tableGuard.Entities() == 0 {
		t.Fatal("the guard saw no entity: it is not on the store's client")
	}
}

func mustJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// partEntities counts the part entities of a run and their text properties.
func partEntities(t *testing.T, e *env, runID string) (parts, props int) {
	t.Helper()
	filter := fmt.Sprintf("PartitionKey eq '%s'", runID)
	pager := tableSvc.NewClient(e.prefix + "Runs").NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Entities {
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			if rk, _ := m["RowKey"].(string); strings.Contains(rk, "~") {
				parts++
				n, _ := m["N"].(float64)
				props += int(n)
			}
		}
	}
	return parts, props
}

// Guests (name_domain#EXT#@tenant) and other unusual but valid UPNs: remediated, and their runs
// listed by UPN (with '#' sent as %23) and by object id.
func TestGuestsAndUnusualUPNsAreRemediatedAndListed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	users := []tenantsim.User{
		{ID: "b0b0b0b0-0000-4000-8000-000000000001", UserPrincipalName: "adele.vance_fabrikam.example#EXT#@contoso.onmicrosoft.com", DisplayName: "Adele (guest)", Mail: "adele.vance@fabrikam.example", AccountEnabled: true},
		{ID: "b0b0b0b0-0000-4000-8000-000000000002", UserPrincipalName: "o'brien@contoso.example", DisplayName: "Pat O'Brien", AccountEnabled: true},
		{ID: "b0b0b0b0-0000-4000-8000-000000000003", UserPrincipalName: "a!b#c^d~e_f-g@contoso.example", DisplayName: "Odd", AccountEnabled: true},
	}
	for _, u := range users {
		e.sim.AddUser(u)
	}
	for _, u := range users {
		run := e.start(remediation.StartRequest{User: u.UserPrincipalName, Mode: "sync", Reason: "guest test"})
		if run.User.ID != u.ID {
			t.Fatalf("%s resolved to %s", u.UserPrincipalName, run.User.ID)
		}
		for _, key := range []string{u.UserPrincipalName, strings.ToUpper(u.UserPrincipalName), u.ID} {
			code, body := e.api("GET", "/api/remediations?user="+url.QueryEscape(key))
			var list []runs.Run
			if code != http.StatusOK || json.Unmarshal(body, &list) != nil {
				t.Fatalf("list by %q: %d %s", key, code, body)
			}
			if len(list) != 1 || list[0].RunID != run.RunID {
				t.Errorf("list by %q: %d runs, want only %s", key, len(list), run.RunID)
			}
		}
		for _, st := range e.get(run.RunID).Steps {
			if st.Status == runs.StepFailed {
				t.Errorf("%s: step %s failed: %+v", u.UserPrincipalName, st.Name, st.Error)
			}
		}
	}
}
