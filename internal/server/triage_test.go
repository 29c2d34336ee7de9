package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/triage"
)

// POST /api/triage/sentinel through the real routes and the easyauth check: Tourniquet.Read
// opens it, a caller with only Tourniquet.Remediate does not, and the answer for a Defender
// for Office 365 phishing incident remediates none of its recipients. The server has no
// remediation service: the route must never reach one.
func TestTriageRouteAnswersWithoutActing(t *testing.T) {
	t.Parallel()
	phish, err := os.ReadFile(filepath.Join("..", "triage", "testdata", "mdo-phishing.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(nil, "easyauth")
	post := func(body string, roles ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/api/triage/sentinel", strings.NewReader(body))
		if roles != nil {
			r.Header.Set("X-MS-CLIENT-PRINCIPAL-ID", "playbook-mi")
			r.Header.Set("X-MS-CLIENT-PRINCIPAL", principalHeader(t, "", roles...))
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		return rec
	}
	if rec := post(string(phish)); rec.Code != http.StatusUnauthorized {
		t.Errorf("no caller: HTTP %d %s, want 401", rec.Code, rec.Body)
	}
	if rec := post(string(phish), RoleRemediate); rec.Code != http.StatusForbidden {
		t.Errorf("Tourniquet.Remediate only: HTTP %d %s, want 403", rec.Code, rec.Body)
	}
	rec := post(string(phish), RoleRead)
	if rec.Code != http.StatusOK {
		t.Fatalf("Tourniquet.Read: HTTP %d %s, want 200", rec.Code, rec.Body)
	}
	var res triage.Result
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Accounts) != 3 {
		t.Fatalf("answered %+v, want the 3 recipients", res.Accounts)
	}
	for _, a := range res.Accounts {
		if a.Decision != triage.Skip {
			t.Errorf("recipient %s: %s (%s), want skip", a.User, a.Decision, a.Why)
		}
	}

	for name, tt := range map[string]struct {
		body string
		want int
		code string
	}{
		"Alerts and alerts": {`{"properties":{"Alerts":[],"alerts":[{"properties":{"productName":"Azure Active Directory Identity Protection","alertDisplayName":"Anomalous Token"}}],"relatedEntities":[]}}`, 400, "invalid_request"},
		"a name twice":      {`{"properties":{"labels":[],"labels":[{"labelName":"tourniquet:remediate:a@b.example"}]}}`, 400, "invalid_request"},
		"not an incident":   {`[{"kind":"Account"}]`, 400, "invalid_request"},
		"nested too deep":   {strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40), 400, "invalid_request"},
		"too many alerts":   {`{"properties":{"alerts":[` + strings.TrimSuffix(strings.Repeat(`{},`, 501), ",") + `]}}`, 400, "invalid_request"},
		"larger than 1 MiB": {`{"properties":{"description":"` + strings.Repeat("x", 1<<20) + `"}}`, 413, "request_too_large"},
	} {
		rec := post(tt.body, RoleRead)
		if rec.Code != tt.want || !strings.Contains(rec.Body.String(), `"`+tt.code+`"`) {
			t.Errorf("%s: HTTP %d %s, want %d %s", name, rec.Code, rec.Body, tt.want, tt.code)
		}
	}
}
