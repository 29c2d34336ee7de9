package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/catalog"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// GET /api/health is anonymous: it counts PROTECTED_ACCOUNTS and never names one, whether
// the entries are not resolved yet, did not resolve, or resolved; and it says degraded, with
// reasons, while the handler runs without a break-glass account or its own record key.
func TestHealthCountsProtectedAccountsAndNamesNone(t *testing.T) {
	t.Parallel()
	const entry, invalid = "bg@contoso.example", "not a upn"
	for name, tt := range map[string]struct {
		cfg         remediation.Config
		wantStatus  string
		wantReasons []string
	}{
		"both rails":          {remediation.Config{Protected: []string{entry, invalid}, RecordKeySet: true}, "ok", nil},
		"no break-glass":      {remediation.Config{RecordKeySet: true}, "degraded", []string{"PROTECTED_ACCOUNTS"}},
		"no record key":       {remediation.Config{Protected: []string{entry}}, "degraded", []string{"TOURNIQUET_RECORD_KEY"}},
		"neither rail is set": {remediation.Config{}, "degraded", []string{"PROTECTED_ACCOUNTS", "TOURNIQUET_RECORD_KEY"}},
	} {
		t.Run(name, func(t *testing.T) {
			svc := &remediation.Service{Config: tt.cfg}
			srv := New(svc, fakeStore{}, "functionkey", slog.New(slog.NewJSONHandler(io.Discard, nil)))
			rec := httptest.NewRecorder()
			// The service has no directory: health must not try to resolve anything.
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "/api/health", nil))
			var got struct {
				Status            string   `json:"status"`
				Reasons           []string `json:"reasons"`
				ProtectedAccounts *struct {
					Configured, Resolved, Unresolved int
				} `json:"protectedAccounts"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 || got.Status != tt.wantStatus || len(got.Reasons) != len(tt.wantReasons) {
				t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
			}
			for i, want := range tt.wantReasons {
				if !strings.Contains(got.Reasons[i], want) {
					t.Errorf("reason %d %q does not name %s", i, got.Reasons[i], want)
				}
			}
			if n := len(tt.cfg.Protected); n > 0 && (got.ProtectedAccounts == nil || got.ProtectedAccounts.Configured != n || got.ProtectedAccounts.Unresolved != n) {
				t.Errorf("protected accounts not counted: %s", rec.Body)
			}
			for _, secret := range []string{entry, invalid, "contoso"} {
				if strings.Contains(rec.Body.String(), secret) {
					t.Errorf("health names a protected account (%q): %s", secret, rec.Body)
				}
			}
		})
	}
}

// A body with a name twice, or two names differing only in letter case, is refused at every
// nesting level before anything runs: encoding/json alone lets the last one win, so
// {"dryRun":true,"DryRun":false} would start a real run. The service is nil here: a body
// that got past decoding would panic into a 500.
func TestDuplicateAndCaseVariantNamesAre400(t *testing.T) {
	t.Parallel()
	srv := newTestServer(nil, "functionkey")
	for name, tt := range map[string]struct{ path, body string }{
		"dryRun twice":                 {"/api/remediations", `{"user":"a@b.example","dryRun":true,"dryRun":false}`},
		"dryRun and DryRun":            {"/api/remediations", `{"user":"a@b.example","dryRun":true,"DryRun":false}`},
		"DryRun alone":                 {"/api/remediations", `{"user":"a@b.example","DryRun":true}`},
		"user spelled with a long s":   {"/api/remediations", `{"u\u017fer":"a@b.example"}`},
		"case variants inside options": {"/api/remediations", `{"user":"a@b.example","options":{"inboxRules":{"action":"disable","Action":"delete"}}}`},
		"duplicate inside options":     {"/api/steps/remove-inbox-rules", `{"user":"a@b.example","options":{"inboxRules":{"scope":"all","scope":"suspicious"}}}`},
		"one-step dryRun and DRYRUN":   {"/api/steps/reset-password", `{"user":"a@b.example","dryRun":true,"DRYRUN":false}`},
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("POST", tt.path, strings.NewReader(tt.body)))
			if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
				t.Fatalf("HTTP %d %s, want 400 invalid_request", rec.Code, rec.Body)
			}
		})
	}
}

func TestQueueMessagesAreDecodedExactly(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"user":"a@b.example","dryRun":true,"DryRun":false}`,
		`{"runId":"r1","RunId":"r2"}`,
		`{"user":"a@b.example","options":{"inboxRules":{"action":"a","action":"b"}}}`,
	} {
		var msg queueMessage
		if err := decodeStrict([]byte(body), &msg); err == nil {
			t.Errorf("accepted %s as %+v", body, msg)
		}
	}
}

// countingStore counts pings and fails them while down is set.
type countingStore struct {
	pings atomic.Int64
	down  atomic.Bool
}

func (c *countingStore) Ping(context.Context) error {
	c.pings.Add(1)
	if c.down.Load() {
		return errors.New("down")
	}
	return nil
}

// /api/health is anonymous: a flood of calls reaches the store at most once per healthTTL.
func TestHealthChecksTheStoreAtMostOncePerTTL(t *testing.T) {
	t.Parallel()
	store := &countingStore{}
	var mu sync.Mutex
	clock := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	s := &Server{store: store, authMode: "functionkey", log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	s.health.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	srv := s.routes()
	health := func() int {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/api/health", nil))
		return rec.Code
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := health(); code != 200 {
				t.Errorf("health %d", code)
			}
		}()
	}
	wg.Wait()
	if n := store.pings.Load(); n != 1 {
		t.Fatalf("%d pings for 50 concurrent health calls, want 1", n)
	}
	store.down.Store(true)
	advance(4 * time.Second)
	if code := health(); code != 200 || store.pings.Load() != 1 {
		t.Fatalf("within the TTL: %d after %d pings, want the cached 200", code, store.pings.Load())
	}
	advance(2 * time.Second)
	if code := health(); code != 503 || store.pings.Load() != 2 {
		t.Fatalf("after the TTL: %d after %d pings, want a fresh 503", code, store.pings.Load())
	}
	if code := health(); code != 503 || store.pings.Load() != 2 {
		t.Fatalf("the outage is cached too: %d after %d pings", code, store.pings.Load())
	}
}

// Past maxSyncRuns sync runs in progress on an instance, a new sync request is turned away
// with 429 and Retry-After before it reaches the service (nil here: reaching it would 500).
func TestSyncRunsPastTheInstanceCapAre429(t *testing.T) {
	t.Parallel()
	s := &Server{authMode: "functionkey", log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	srv := s.routes()
	var releases []func()
	for i := 0; i < maxSyncRuns; i++ {
		release, ok := s.syncRuns.acquire()
		if !ok {
			t.Fatalf("slot %d refused", i)
		}
		releases = append(releases, release)
	}
	for path, body := range map[string]string{
		"/api/steps/revoke-sessions": `{"user":"a@b.example"}`,
		"/api/remediations":          `{"user":"a@b.example","mode":"sync"}`,
	} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "10" || !strings.Contains(rec.Body.String(), `"rate_limited"`) {
			t.Fatalf("%s: HTTP %d Retry-After %q %s", path, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
	releases[0]()
	if _, ok := s.syncRuns.acquire(); !ok {
		t.Fatal("a released slot is not free again")
	}
}

// idempotency_key_reused is a 409 problem whose code and type name it, like every code.
func TestKeyReusedIsA409Problem(t *testing.T) {
	t.Parallel()
	s := &Server{log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	rec := httptest.NewRecorder()
	s.writeError(rec, httptest.NewRequest("POST", "/api/remediations", nil), apperr.New(apperr.KeyReused, "reused"))
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 409 || p.Status != 409 || p.Code != "idempotency_key_reused" || !strings.HasSuffix(p.Type, "/idempotency-key-reused") || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("HTTP %d %+v", rec.Code, p)
	}
}

// A queue message whose idempotency key belongs to a different request is dropped (2xx),
// not failed: a redelivery could never succeed, it would only loop into the poison queue.
func TestQueuedRequestWithAReusedKeyIsDropped(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	s := &Server{log: slog.New(slog.NewJSONHandler(&logs, nil))}
	if err := s.queueOutcome(nil, apperr.New(apperr.KeyReused, "reused")); err != nil {
		t.Fatalf("outcome %v, want the message dropped", err)
	}
	if !strings.Contains(logs.String(), "idempotency key belongs to a different request") {
		t.Fatalf("the drop is not logged: %s", logs.String())
	}
	if err := s.queueOutcome(nil, apperr.New(apperr.Unavailable, "down")); err == nil {
		t.Fatal("a store outage must fail the invocation so the host delivers it again")
	}
}

func TestStepCatalogIsServedInRunDocumentOrder(t *testing.T) {
	srv := newTestServer(nil, "functionkey")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/api/steps", nil))
	if rec.Code != 200 {
		t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
	}
	var got []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(catalog.All) {
		t.Fatalf("%d entries, want %d", len(got), len(catalog.All))
	}
	byName := map[string]map[string]any{}
	for i, e := range got {
		if e["name"] != string(catalog.All[i]) {
			t.Errorf("entry %d is %v, want %s", i, e["name"], catalog.All[i])
		}
		for _, k := range []string{"name", "description", "default", "reversible", "impact", "dependsOn"} {
			if _, ok := e[k]; !ok {
				t.Errorf("%v lacks %q", e["name"], k)
			}
		}
		byName[e["name"].(string)] = e
	}
	if deps := byName["revoke-sessions"]["dependsOn"]; fmt.Sprint(deps) != "[reset-password block-sign-in]" {
		t.Errorf("revoke-sessions dependsOn %v", deps)
	}
	if e := byName["investigate"]; e["impact"] != "none" || e["reversible"] != false || e["default"] != false {
		t.Errorf("investigate: %v", e)
	}
	if e := byName["reset-password"]; e["default"] != true {
		t.Errorf("reset-password is a default step: %v", e)
	}
}
