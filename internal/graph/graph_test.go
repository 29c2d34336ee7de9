package graph

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// ---- fake Graph ------------------------------------------------------------------

// seen is one request the fake received, body already gunzipped.
type seen struct {
	Method, Path string
	Query        url.Values
	Body         []byte
	Encoding     string
	Auth         string
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, body []byte)

// fakeGraph is an httptest server that speaks the Graph wire shapes of
// docs/wire-formats.md. Every /v1.0 request must carry "Bearer <token>"; it also serves
// an App Service managed identity endpoint at /msi/token that issues that token.
type fakeGraph struct {
	*httptest.Server
	t              *testing.T
	token          string
	identityHeader string

	mu       sync.Mutex
	routes   map[string]handlerFunc // "METHOD /decoded/path"
	requests []seen
	tokens   int // token endpoint calls
}

func newFakeGraph(t *testing.T) *fakeGraph {
	t.Helper()
	token := fmt.Sprintf("graph-token-%d-%s", fakeSerial.Add(1), t.Name())
	f := &fakeGraph{t: t, token: token, identityHeader: "identity-header-secret", routes: map[string]handlerFunc{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// fakeSerial makes every fake's token unique, so no token cached by an earlier test can
// pass another fake's check.
var fakeSerial atomic.Int32

func (f *fakeGraph) baseURL() string { return f.URL + "/v1.0" }

// on registers a handler for a method and a decoded path below /v1.0.
func (f *fakeGraph) on(method, path string, h handlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" /v1.0"+path] = h
}

func (f *fakeGraph) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.requests...)
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/msi/token" {
		f.serveToken(w, r)
		return
	}
	body, err := readBody(r)
	if err != nil {
		f.t.Errorf("fake graph: reading body of %s %s: %v", r.Method, r.URL.Path, err)
		graphError(w, http.StatusBadRequest, "BadRequest", "unreadable body")
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, seen{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body,
		Encoding: r.Header.Get("Content-Encoding"), Auth: r.Header.Get("Authorization"),
	})
	h := f.routes[r.Method+" "+r.URL.Path]
	f.mu.Unlock()

	if r.Header.Get("Authorization") != "Bearer "+f.token {
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	if h == nil {
		f.t.Errorf("fake graph: unexpected request %s %s", r.Method, r.URL.Path)
		graphError(w, http.StatusNotFound, "Request_ResourceNotFound", "no such route in the fake")
		return
	}
	h(w, r, body)
}

// serveToken imitates the App Service managed identity protocol.
func (f *fakeGraph) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Header.Get("X-IDENTITY-HEADER") != f.identityHeader || q.Get("api-version") != "2019-08-01" ||
		q.Get("resource") != "https://graph.microsoft.com" || q.Get("client_id") == "" {
		f.t.Errorf("token endpoint: unexpected request %s (header %q)", r.URL, r.Header.Get("X-IDENTITY-HEADER"))
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.tokens++
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": f.token,
		"expires_on":   fmt.Sprint(time.Now().Add(time.Hour).Unix()),
		"resource":     "https://graph.microsoft.com",
		"token_type":   "Bearer",
	})
}

func readBody(r *http.Request) ([]byte, error) {
	var reader io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		reader = zr
	}
	return io.ReadAll(reader)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// graphError writes Graph's error envelope.
func graphError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]string{"date": "2025-01-01T00:00:00", "request-id": "r1", "client-request-id": "c1"},
	}})
}

func collection(items []any, nextLink string) map[string]any {
	page := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#x", "value": items}
	if nextLink != "" {
		page["@odata.nextLink"] = nextLink
	}
	return page
}

func noContent(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) }

func decodeJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("request body is not JSON: %v: %q", err, body)
	}
	return m
}

// ---- fake credential ------------------------------------------------------------

type staticCredential struct {
	token string
	err   error
	calls atomic.Int32
	scope atomic.Value
}

func (c *staticCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	c.scope.Store(strings.Join(opts.Scopes, " "))
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func newTestClient(t *testing.T, f *fakeGraph, tweak ...func(*Options)) *Client {
	t.Helper()
	opts := Options{
		BaseURL:    f.baseURL(),
		Credential: &staticCredential{token: f.token},
		Timeout:    5 * time.Second,
		MaxRetries: 2,
	}
	for _, fn := range tweak {
		fn(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func asGraphError(t *testing.T, err error) *Error {
	t.Helper()
	var ge *Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v (%T) is not a *graph.Error", err, err)
	}
	return ge
}

const (
	userID  = "11111111-2222-3333-4444-555555555555"
	groupID = "99999999-8888-7777-6666-555555555555"
	roleID  = "62e90394-69f5-4237-9190-012177145e10"
)

// ---- construction and authentication -----------------------------------------------

func TestNewValidatesOptions(t *testing.T) {
	cred := &staticCredential{token: "t"}
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"default base URL", Options{Credential: cred}, ""},
		{"https host", Options{BaseURL: "https://graph.microsoft.us/v1.0/", Credential: cred}, ""},
		{"http loopback IPv4", Options{BaseURL: "http://127.0.0.1:8080/v1.0", Credential: cred}, ""},
		{"http localhost", Options{BaseURL: "http://localhost:8080/v1.0", Credential: cred}, ""},
		{"http IPv6 loopback", Options{BaseURL: "http://[::1]:8080/v1.0", Credential: cred}, ""},
		{"no credential", Options{}, "credential is required"},
		{"http remote host", Options{BaseURL: "http://graph.example.com/v1.0", Credential: cred}, "only for loopback"},
		{"http host that only starts like localhost", Options{BaseURL: "http://localhost.example.com/v1.0", Credential: cred}, "only for loopback"},
		{"other scheme", Options{BaseURL: "ftp://127.0.0.1/v1.0", Credential: cred}, "scheme must be https"},
		{"credentials in URL", Options{BaseURL: "https://u:p@graph.microsoft.com/v1.0", Credential: cred}, "without credentials"},
		{"no host", Options{BaseURL: "/v1.0", Credential: cred}, "want scheme://host"},
		{"too many retries", Options{Credential: cred, MaxRetries: 11}, "above the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				if strings.HasSuffix(c.baseURL, "/") {
					t.Errorf("base URL %q keeps a trailing slash", c.baseURL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if cred.calls.Load() != 0 {
		t.Errorf("New asked for %d tokens; it must make no request", cred.calls.Load())
	}
}

func TestBearerTokenIsSentToLoopbackForGraphScope(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/users/"+userID, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, map[string]any{"id": userID})
	})
	cred := &staticCredential{token: f.token}
	c := newTestClient(t, f, func(o *Options) { o.Credential = cred })

	if _, err := c.GetUser(context.Background(), userID); err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if got := f.seen()[0].Auth; got != "Bearer "+f.token {
		t.Errorf("Authorization = %q, want the bearer token", got)
	}
	if got := cred.scope.Load(); got != Scope {
		t.Errorf("token scope = %v, want %s", got, Scope)
	}
}

// The real managed identity credential, App Service protocol, against the fake's token
// endpoint: the whole path from IDENTITY_ENDPOINT to the Authorization header.
func TestManagedIdentityTokenReachesGraph(t *testing.T) {
	f := newFakeGraph(t)
	t.Setenv("IDENTITY_ENDPOINT", f.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", f.identityHeader)
	// MSAL caches managed identity tokens process-wide per identity; a client id of its
	// own keeps a repeated run (-count=N) from reusing an earlier fake's token.
	clientID := fmt.Sprintf("00000000-0000-0000-0000-%012d", fakeSerial.Add(1))
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(clientID)})
	if err != nil {
		t.Fatalf("NewManagedIdentityCredential: %v", err)
	}
	f.on("GET", "/users/"+userID, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, map[string]any{"id": userID, "userPrincipalName": "alice@contoso.com"})
	})
	c := newTestClient(t, f, func(o *Options) { o.Credential = cred })

	u, err := c.GetUser(context.Background(), userID)
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if u.UserPrincipalName != "alice@contoso.com" {
		t.Errorf("user = %+v", u)
	}
	f.mu.Lock()
	tokens := f.tokens
	f.mu.Unlock()
	if tokens != 1 {
		t.Errorf("token endpoint called %d times, want 1", tokens)
	}
	if got := f.seen()[0].Auth; got != "Bearer "+f.token {
		t.Errorf("Authorization = %q, want the managed identity token", got)
	}
}

func TestCredentialFailureSendsNoRequest(t *testing.T) {
	f := newFakeGraph(t)
	cred := &staticCredential{err: errors.New("no identity here")}
	c := newTestClient(t, f, func(o *Options) { o.Credential = cred })

	err := c.RevokeSessions(context.Background(), userID)
	ge := asGraphError(t, err)
	if ge.Status != 0 || ge.Transient() || !strings.Contains(ge.Error(), "no identity here") {
		t.Errorf("error = %+v (%v), want a permanent Status 0 error naming the cause", ge, ge)
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("fake saw %d requests, want none", n)
	}
}

// ---- retries, compression, deadlines -----------------------------------------------

// A PATCH retried after 429 must go out again with its full (gzip) body. The SDK's
// default middleware order is random per client and loses the body in most orders, so
// this runs with many fresh clients.
func TestPatchRetriedAfter429KeepsItsBody(t *testing.T) {
	const password = "Correct-Horse-9-Battery!"
	f := newFakeGraph(t)
	var patches atomic.Int32
	f.on("PATCH", "/users/"+userID, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		if patches.Add(1)%2 == 1 {
			w.Header().Set("Retry-After", "0")
			graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	const clients = 20
	for i := range clients {
		c := newTestClient(t, f)
		if err := c.SetPassword(context.Background(), userID, password); err != nil {
			t.Fatalf("client %d: SetPassword: %v", i, err)
		}
	}

	requests := f.seen()
	if len(requests) != 2*clients {
		t.Fatalf("fake saw %d PATCHes, want %d (one 429 and one retry per client)", len(requests), 2*clients)
	}
	for i, r := range requests {
		if r.Encoding != "gzip" {
			t.Errorf("request %d: Content-Encoding %q, want gzip", i, r.Encoding)
		}
		body := decodeJSON(t, r.Body)
		profile, _ := body["passwordProfile"].(map[string]any)
		if profile["password"] != password || profile["forceChangePasswordNextSignIn"] != true {
			t.Errorf("request %d (attempt %d): body %s lacks the password profile", i, i%2+1, r.Body)
		}
	}
}

func TestRetriesStopAtMaxRetries(t *testing.T) {
	tests := []struct {
		name         string
		maxRetries   int
		wantRequests int
	}{
		{"two retries", 2, 3},
		{"retries disabled", -1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGraph(t)
			f.on("POST", "/users/"+userID+"/revokeSignInSessions", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				w.Header().Set("Retry-After", "0")
				graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests")
			})
			c := newTestClient(t, f, func(o *Options) { o.MaxRetries = tt.maxRetries })

			ge := asGraphError(t, c.RevokeSessions(context.Background(), userID))
			if ge.Status != http.StatusTooManyRequests || ge.Code != "TooManyRequests" || !ge.Transient() {
				t.Errorf("error = %+v, want a transient 429 TooManyRequests", ge)
			}
			if n := len(f.seen()); n != tt.wantRequests {
				t.Errorf("fake saw %d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

func TestThrottlingLongerThanTheDeadlineFailsAtOnce(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/users/"+userID, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Retry-After", "120")
		graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests")
	})
	c := newTestClient(t, f, func(o *Options) { o.Timeout = 3 * time.Second })

	start := time.Now()
	_, err := c.GetUser(context.Background(), userID)
	ge := asGraphError(t, err)
	if ge.Status != http.StatusTooManyRequests || !ge.Transient() {
		t.Errorf("error = %+v, want the transient 429", ge)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v; a retry that cannot fit the deadline must not be waited for", elapsed)
	}
	if n := len(f.seen()); n != 1 {
		t.Errorf("fake saw %d requests, want 1", n)
	}
	// The Retry-After reaches the caller, so a queued step can be deferred by it.
	if wait, throttled := ge.Throttled(); !throttled || wait != 120*time.Second || ge.RetryAfter != 120*time.Second {
		t.Errorf("Throttled() = %v, %v; want 120s, true", wait, throttled)
	}
}

// TestACallHeldBackByTheSharedThrottleIsAThrottledError: a transport that refuses to send
// (the tenant's shared throttle, internal/throttle) comes back as a transient, throttled
// *Error with the time left as its Retry-After, and nothing reaches Graph.
func TestACallHeldBackByTheSharedThrottleIsAThrottledError(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/users/"+userID, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, map[string]any{"id": userID})
	})
	until := time.Now().Add(40 * time.Second)
	c := newTestClient(t, f, func(o *Options) {
		o.HTTPClient = &http.Client{Transport: heldBackTransport{until}}
	})
	_, err := c.GetUser(context.Background(), userID)
	ge := asGraphError(t, err)
	wait, throttled := ge.Throttled()
	if !throttled || !ge.Transient() || wait < 35*time.Second || wait > 40*time.Second {
		t.Errorf("error = %+v (throttled %v, wait %v); want a transient throttled error with about 40 s to wait", ge, throttled, wait)
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("fake saw %d requests, want none", n)
	}
}

type heldBackTransport struct{ until time.Time }

func (h heldBackTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, heldBack{h.until}
}

type heldBack struct{ until time.Time }

func (h heldBack) Error() string            { return "held back: graph asked this tenant to wait" }
func (h heldBack) HeldBackUntil() time.Time { return h.until }

func TestServiceUnavailableIsRetried(t *testing.T) {
	f := newFakeGraph(t)
	var calls atomic.Int32
	f.on("GET", "/users/"+userID, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			graphError(w, http.StatusServiceUnavailable, "serviceNotAvailable", "try later")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": userID})
	})
	c := newTestClient(t, f)
	if _, err := c.GetUser(context.Background(), userID); err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if calls.Load() != 2 {
		t.Errorf("calls = %d, want 2", calls.Load())
	}
}

func TestEachCallHasADeadline(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/users/"+userID, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		w.WriteHeader(http.StatusGatewayTimeout)
	})
	c := newTestClient(t, f, func(o *Options) { o.Timeout = 200 * time.Millisecond })

	start := time.Now()
	_, err := c.GetUser(context.Background(), userID)
	ge := asGraphError(t, err)
	if ge.Status != 0 || !ge.Transient() || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %+v (%v), want a transient timeout wrapping DeadlineExceeded", ge, err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("call took %v, want about the 200ms timeout", elapsed)
	}
}

func TestNetworkFailureIsTransient(t *testing.T) {
	f := newFakeGraph(t)
	c := newTestClient(t, f)
	f.Close() // nothing listens any more

	ge := asGraphError(t, c.RevokeSessions(context.Background(), userID))
	if ge.Status != 0 || !ge.Transient() || !IsTransient(ge) {
		t.Errorf("error = %+v, want a transient Status 0 error", ge)
	}
}

// ---- paging --------------------------------------------------------------------------

func TestListingFollowsAbsoluteNextLinks(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/roleManagement/directory/roleAssignments", func(w http.ResponseWriter, r *http.Request, _ []byte) {
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			writeJSON(w, http.StatusOK, collection([]any{assignmentJSON("a1")},
				f.baseURL()+"/roleManagement/directory/roleAssignments?$skiptoken=page2"))
		case "page2":
			writeJSON(w, http.StatusOK, collection([]any{assignmentJSON("a2"), assignmentJSON("a3")},
				f.baseURL()+"/roleManagement/directory/roleAssignments?$skiptoken=page3"))
		default:
			writeJSON(w, http.StatusOK, collection([]any{assignmentJSON("a4")}, ""))
		}
	})
	c := newTestClient(t, f)

	got, err := c.RoleAssignments(context.Background(), userID)
	if err != nil {
		t.Fatalf("RoleAssignments: %v", err)
	}
	var ids []string
	for _, a := range got {
		ids = append(ids, a.ID)
	}
	if strings.Join(ids, ",") != "a1,a2,a3,a4" {
		t.Errorf("ids = %v, want a1..a4 across three pages", ids)
	}
	requests := f.seen()
	if len(requests) != 3 {
		t.Fatalf("fake saw %d requests, want 3", len(requests))
	}
	for i, r := range requests {
		if r.Auth != "Bearer "+f.token {
			t.Errorf("page %d sent without the bearer token", i+1)
		}
	}
}

func TestErrorOnALaterPageKeepsGraphsCode(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/users/"+userID+"/memberOf/graph.group", func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Query().Get("$skiptoken") == "" {
			writeJSON(w, http.StatusOK, collection([]any{}, f.baseURL()+"/users/"+userID+"/memberOf/graph.group?$skiptoken=2"))
			return
		}
		graphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	})
	c := newTestClient(t, f)

	_, err := c.RoleAssignableGroups(context.Background(), userID)
	ge := asGraphError(t, err)
	if ge.Status != http.StatusForbidden || ge.Code != "Authorization_RequestDenied" || !IsForbidden(err) {
		t.Errorf("error = %+v, want 403 Authorization_RequestDenied", ge)
	}
}

func TestNextLinkToAnotherHostIsNotFollowed(t *testing.T) {
	var foreignHits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		foreignHits.Add(1)
		writeJSON(w, http.StatusOK, collection(nil, ""))
	}))
	defer foreign.Close()
	f := newFakeGraph(t)
	f.on("GET", "/roleManagement/directory/roleEligibilitySchedules", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, collection([]any{}, foreign.URL+"/v1.0/roleManagement/directory/roleEligibilitySchedules?$skiptoken=x"))
	})
	c := newTestClient(t, f)

	_, err := c.EligibleSchedules(context.Background(), userID)
	if err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("error = %v, want a refused nextLink", err)
	}
	if foreignHits.Load() != 0 {
		t.Errorf("the foreign host was called %d times", foreignHits.Load())
	}
}

// ---- errors --------------------------------------------------------------------------

func TestGraphErrorsAreMapped(t *testing.T) {
	tests := []struct {
		name       string
		answer     func(w http.ResponseWriter)
		wantStatus int
		wantCode   string
		wantMsg    string
		wantText   string
		notFound   bool
		forbidden  bool
		transient  bool
	}{
		{
			name: "404 Request_ResourceNotFound",
			answer: func(w http.ResponseWriter) {
				graphError(w, 404, "Request_ResourceNotFound", "Resource '"+userID+"' does not exist or one of its queried reference-property objects are not present.")
			},
			wantStatus: 404, wantCode: "Request_ResourceNotFound",
			wantMsg:  "Resource '" + userID + "' does not exist or one of its queried reference-property objects are not present.",
			wantText: "graph SetPassword: 404 Request_ResourceNotFound: Resource '" + userID + "' does not exist",
			notFound: true,
		},
		{
			name: "403 Authorization_RequestDenied",
			answer: func(w http.ResponseWriter) {
				graphError(w, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
			},
			wantStatus: 403, wantCode: "Authorization_RequestDenied", wantMsg: "Insufficient privileges to complete the operation.",
			wantText:  "graph SetPassword: 403 Authorization_RequestDenied: Insufficient privileges to complete the operation.",
			forbidden: true,
		},
		{
			name: "400 Request_BadRequest for a synced user",
			answer: func(w http.ResponseWriter) {
				graphError(w, 400, "Request_BadRequest", "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.")
			},
			wantStatus: 400, wantCode: "Request_BadRequest",
			wantMsg:  "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
			wantText: "graph SetPassword: 400 Request_BadRequest: Unable to update the specified properties",
		},
		{
			name:       "error with an empty body",
			answer:     func(w http.ResponseWriter) { w.WriteHeader(404) },
			wantStatus: 404, wantMsg: "empty or unreadable error response",
			wantText: "graph SetPassword: 404 NotFound: empty or unreadable error response",
			notFound: true,
		},
		{
			name: "error without a message",
			answer: func(w http.ResponseWriter) {
				writeJSON(w, 400, map[string]any{"error": map[string]any{"code": "Request_BadRequest"}})
			},
			wantStatus: 400, wantCode: "Request_BadRequest",
			wantText: "graph SetPassword: 400 Request_BadRequest: no error message in the response",
		},
		{
			name:       "error envelope without error",
			answer:     func(w http.ResponseWriter) { writeJSON(w, 409, map[string]any{}) },
			wantStatus: 409,
			wantText:   "graph SetPassword: 409 Conflict: no error message in the response",
		},
		{
			name: "HTML from a gateway",
			answer: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				_, _ = io.WriteString(w, "<html><body>Bad Gateway</body></html>")
			},
			wantStatus: 502, wantText: "graph SetPassword: 502", transient: true,
		},
		{
			name: "500 with an envelope",
			answer: func(w http.ResponseWriter) {
				graphError(w, 500, "generalException", "General exception while processing.")
			},
			wantStatus: 500, wantCode: "generalException", wantMsg: "General exception while processing.",
			wantText: "graph SetPassword: 500 generalException", transient: true,
		},
		{
			name: "PIM schedule that is gone",
			answer: func(w http.ResponseWriter) {
				graphError(w, 400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
			},
			wantStatus: 400, wantCode: "RoleAssignmentDoesNotExist", wantMsg: "The Role assignment does not exist.",
			wantText: "graph SetPassword: 400 RoleAssignmentDoesNotExist", notFound: true,
		},
	}
	const password = "Sup3r-Secret-Passw0rd!"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGraph(t)
			f.on("PATCH", "/users/"+userID, func(w http.ResponseWriter, _ *http.Request, _ []byte) { tt.answer(w) })
			c := newTestClient(t, f)

			err := c.SetPassword(context.Background(), userID, password)
			ge := asGraphError(t, err)
			if ge.Op != "SetPassword" || ge.Status != tt.wantStatus || ge.Code != tt.wantCode {
				t.Errorf("error = %+v, want status %d code %q", ge, tt.wantStatus, tt.wantCode)
			}
			if tt.wantMsg != "" && ge.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", ge.Message, tt.wantMsg)
			}
			text := err.Error()
			if !strings.HasPrefix(text, tt.wantText) {
				t.Errorf("Error() = %q, want prefix %q", text, tt.wantText)
			}
			if strings.Contains(text, password) || strings.Contains(text, f.token) {
				t.Errorf("Error() = %q leaks the password or the token", text)
			}
			if IsNotFound(err) != tt.notFound || IsForbidden(err) != tt.forbidden || ge.Transient() != tt.transient {
				t.Errorf("IsNotFound=%v IsForbidden=%v Transient=%v, want %v %v %v",
					IsNotFound(err), IsForbidden(err), ge.Transient(), tt.notFound, tt.forbidden, tt.transient)
			}
		})
	}
}

func TestPasswordEchoedByTheServerIsRedacted(t *testing.T) {
	const password = "Echo-Me-Back-123!"
	f := newFakeGraph(t)
	f.on("PATCH", "/users/"+userID, func(w http.ResponseWriter, _ *http.Request, body []byte) {
		graphError(w, 400, "Request_BadRequest", "Invalid value in "+string(body))
	})
	c := newTestClient(t, f)

	err := c.SetPassword(context.Background(), userID, password)
	if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error = %v, want the password redacted", err)
	}
}

func TestErrorHelpersOnOtherErrors(t *testing.T) {
	plain := errors.New("boom")
	wrapped := fmt.Errorf("step: %w", &Error{Op: "GetUser", Status: 404})
	if IsNotFound(plain) || IsForbidden(plain) || IsTransient(plain) {
		t.Error("helpers must be false for a non-Graph error")
	}
	if !IsNotFound(wrapped) {
		t.Error("IsNotFound must see through wrapping")
	}
	if !(&Error{Status: 429}).Transient() || !(&Error{Status: 503}).Transient() || (&Error{Status: 400}).Transient() {
		t.Error("Transient must hold for 429 and 5xx only")
	}
	if got := (&Error{Op: "X", Message: "timed out"}).Error(); got != "graph X: timed out" {
		t.Errorf("Error() without status = %q", got)
	}
	if !bytes.Contains([]byte((&Error{Op: "X", Status: 404, Code: "C", Message: "M"}).Error()), []byte("graph X: 404 C: M")) {
		t.Error("Error() format changed")
	}
}
