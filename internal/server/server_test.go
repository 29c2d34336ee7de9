package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
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
