package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
)

type fakeStore struct{ err error }

func (f fakeStore) Ping(context.Context) error { return f.err }

func newTestServer(storeErr error, authMode string) http.Handler {
	return New(nil, fakeStore{storeErr}, authMode, slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

func TestHostProtocolEdges(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		storeErr   error
		wantStatus int
		wantBody   string
	}{
		{"readiness poll", "GET", "/", "", nil, 200, `"ready"`},
		{"health", "GET", "/api/health", "", nil, 200, `{"status":"ok"}`},
		{"health with the store down", "GET", "/api/health", "", errors.New("down"), 503, `"unreachable"`},
		{"unknown function", "POST", "/no-such-function", `{}`, nil, 404, `"Outputs"`},
		{"invocation that is not JSON", "POST", "/queue-remediations", `nope`, nil, 400, `"Logs"`},
		{"HTTP-trigger invocation when forwarding is off", "POST", "/http-health",
			`{"Data":{"req":{"Url":"http://localhost:7071/api/health","Method":"GET","Headers":{"Accept":["application/json"]}}},"Metadata":{}}`,
			nil, 200, `"statusCode":200`},
		{"unknown API route", "GET", "/api/nothing", "", nil, 404, `"not_found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(tt.storeErr, "functionkey")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Fatalf("HTTP %d %s; want %d containing %s", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "json") {
				t.Fatalf("Content-Type %q: the host needs JSON", ct)
			}
		})
	}
}

func TestInvocationAnswerIsAlwaysAnObject(t *testing.T) {
	srv := newTestServer(nil, "functionkey")
	rec := httptest.NewRecorder()
	// A message that is not a valid remediation request is dropped (2xx: retrying cannot fix it).
	srv.ServeHTTP(rec, httptest.NewRequest("POST", "/queue-remediations", strings.NewReader(`{"Data":{"msg":"\"not json\""},"Metadata":{"DequeueCount":"1"}}`)))
	var resp map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
		t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
	}
	if _, ok := resp["Outputs"].(map[string]any); !ok {
		t.Fatalf("Outputs is not an object: %s", rec.Body)
	}
}

func TestEasyAuthLeavesHealthOpenAndRefusesTheRest(t *testing.T) {
	srv := newTestServer(nil, "easyauth")
	for path, want := range map[string]int{"/api/health": 200, "/api/remediations/x": 401, "/api/openapi.json": 200} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
}

func TestRequestedByReadsTheClientPrincipalDocument(t *testing.T) {
	s := &Server{authMode: "easyauth"}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-MS-CLIENT-PRINCIPAL-ID", "id-1")
	// base64 of {"auth_typ":"aad","name_typ":"name","claims":[{"typ":"name","val":"Sentinel Playbook"}]}
	r.Header.Set("X-MS-CLIENT-PRINCIPAL", "eyJhdXRoX3R5cCI6ImFhZCIsIm5hbWVfdHlwIjoibmFtZSIsImNsYWltcyI6W3sidHlwIjoibmFtZSIsInZhbCI6IlNlbnRpbmVsIFBsYXlib29rIn1dfQ==")
	if got := s.requestedBy(r); got != "Sentinel Playbook" {
		t.Fatalf("requestedBy %q", got)
	}
	r.Header.Del("X-MS-CLIENT-PRINCIPAL")
	if got := s.requestedBy(r); got != "id-1" {
		t.Fatalf("requestedBy without a name %q", got)
	}
}

// principalHeader encodes an X-MS-CLIENT-PRINCIPAL document with these role claims.
func principalHeader(t *testing.T, roleType string, roles ...string) string {
	t.Helper()
	type claim struct {
		Typ string `json:"typ"`
		Val string `json:"val"`
	}
	claims := []claim{{"name", "Sentinel Playbook"}}
	for _, r := range roles {
		typ := roleType
		if typ == "" {
			typ = "roles"
		}
		claims = append(claims, claim{typ, r})
	}
	doc, err := json.Marshal(map[string]any{"auth_typ": "aad", "name_typ": "name", "role_typ": roleType, "claims": claims})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(doc)
}

func TestEasyAuthRequiresTheAppRoleOfEachRoute(t *testing.T) {
	const roleClaim = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
	tests := []struct {
		method, path string
		roles        []string
		roleType     string
		want         int
	}{
		{"GET", "/api/remediations?user=a@b.example", nil, "", 403},
		{"GET", "/api/remediations?user=a@b.example", []string{RoleRemediate, RoleRestore}, "", 403},
		{"GET", "/api/remediations/r1", []string{RoleRemediate}, "", 403},
		{"GET", "/api/sweeps", []string{RoleApprove}, "", 403},
		{"POST", "/api/remediations", []string{RoleRead}, "", 403},
		{"POST", "/api/steps/reset-password", []string{RoleRead, RoleRestore}, "", 403},
		{"POST", "/api/remediations/r1/restore", []string{RoleRead, RoleRemediate}, "", 403},
		{"POST", "/api/remediations/r1/restore-admin-roles", []string{RoleRemediate}, roleClaim, 403},
		// A role claim of another type is not a role.
		{"POST", "/api/remediations/r1/restore", []string{RoleRestore}, "groups", 403},
		// With the role, the request reaches the handler: a bad body answers 400 there.
		{"POST", "/api/remediations", []string{RoleRemediate}, "", 400},
		{"POST", "/api/steps/reset-password", []string{RoleRemediate}, roleClaim, 400},
		{"POST", "/api/remediations/r1/restore", []string{RoleRestore}, "", 400},
		{"POST", "/api/remediations/r1/restore-admin-roles", []string{RoleRestore}, roleClaim, 400},
		{"GET", "/api/remediations", []string{RoleRead}, "", 400},
	}
	srv := newTestServer(nil, "easyauth")
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %v %s", tt.method, tt.path, tt.roles, tt.roleType), func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{"nope":1}`))
			r.Header.Set("X-MS-CLIENT-PRINCIPAL-ID", "id-1")
			r.Header.Set("X-MS-CLIENT-PRINCIPAL", principalHeader(t, tt.roleType, tt.roles...))
			if tt.roleType == "groups" {
				// role_typ names the standard role claim; the roles came as "groups" claims.
				doc, _ := json.Marshal(map[string]any{"role_typ": roleClaim, "claims": []map[string]string{{"typ": "groups", "val": RoleRestore}}})
				r.Header.Set("X-MS-CLIENT-PRINCIPAL", base64.StdEncoding.EncodeToString(doc))
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, r)
			if rec.Code != tt.want {
				t.Fatalf("HTTP %d %s; want %d", rec.Code, rec.Body, tt.want)
			}
			if tt.want == 403 && !strings.Contains(rec.Body.String(), `"forbidden"`) {
				t.Fatalf("403 without the forbidden code: %s", rec.Body)
			}
		})
	}
}

func TestEveryRouteButHealthAndOpenAPINeedsARole(t *testing.T) {
	for pattern, role := range Roles() {
		public := strings.HasSuffix(pattern, "/api/health") || strings.HasSuffix(pattern, "/api/openapi.json")
		if public != (role == "") {
			t.Errorf("%s: role %q", pattern, role)
		}
		if strings.HasPrefix(pattern, "GET ") && role != "" && role != RoleRead {
			t.Errorf("%s: a read needs %s, not %s", pattern, RoleRead, role)
		}
		if strings.Contains(pattern, "/restore") && role != RoleRestore {
			t.Errorf("%s: a restore needs %s, not %s", pattern, RoleRestore, role)
		}
	}
}

func TestAppRegistrationDefinesEveryRoleTheHandlerChecks(t *testing.T) {
	bicep, err := os.ReadFile(filepath.Join("..", "..", "infra", "modules", "app-registration.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{RoleRead, RoleRemediate, RoleRestore, RoleApprove} {
		if !strings.Contains(string(bicep), "value: '"+role+"'") {
			t.Errorf("infra/modules/app-registration.bicep does not define the app role %s", role)
		}
	}
}

func TestRequestedByUnderFunctionKeysIsAKeyFingerprint(t *testing.T) {
	s := &Server{authMode: "functionkey"}
	const key = "s3cr3t-function-key-value=="
	for _, r := range []*http.Request{
		func() *http.Request {
			r := httptest.NewRequest("POST", "/api/remediations", nil)
			r.Header.Set("x-functions-key", key)
			return r
		}(),
		httptest.NewRequest("POST", "/api/remediations?code="+url.QueryEscape(key), nil),
	} {
		got := s.requestedBy(r)
		if got != "functionkey:"+KeyFingerprint(key) || strings.Contains(got, key) || len(KeyFingerprint(key)) != 12 {
			t.Fatalf("requestedBy %q", got)
		}
	}
	if KeyFingerprint("a") == KeyFingerprint("b") {
		t.Fatal("fingerprints do not tell keys apart")
	}
	if got := s.requestedBy(httptest.NewRequest("GET", "/api/remediations", nil)); got != "functionkey" {
		t.Fatalf("without a key: %q", got)
	}
}

func TestHealthReportsProtectedAccountsFromMemory(t *testing.T) {
	svc := &remediation.Service{Config: remediation.Config{Protected: []string{"bg@contoso.example", "not a upn"}}}
	srv := New(svc, fakeStore{}, "functionkey", slog.New(slog.NewJSONHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	// The service has no directory: health must not try to resolve anything.
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/api/health", nil))
	var got struct {
		Status            string `json:"status"`
		ProtectedAccounts struct {
			Resolved   int      `json:"resolved"`
			Unresolved []string `json:"unresolved"`
		} `json:"protectedAccounts"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 || got.Status != "ok" || len(got.ProtectedAccounts.Unresolved) != 2 {
		t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
	}
}
