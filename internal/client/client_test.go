package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewChecksTheAddress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url     string
		wantErr string
		path    string
	}{
		{"", "no API address", ""},
		{"ftp://app.example", "want https://", ""},
		{"http://app.azurewebsites.net", "loopback", ""},
		{"https://app.azurewebsites.net/?code=abc", "no user, query", ""},
		{"https://user:pw@app.azurewebsites.net", "no user, query", ""},
		{"https://app.azurewebsites.net", "", ""},
		{"https://app.azurewebsites.net/api/", "", ""},
		{"https://gw.example/tourniquet/api", "", "/tourniquet"},
		{"http://127.0.0.1:7071", "", ""},
		{"http://localhost:7071", "", ""},
		{"http://[::1]:7071", "", ""},
	}
	for _, tc := range cases {
		c, err := New(tc.url, "", 0)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New(%q) = %v, want an error with %q", tc.url, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%q): %v", tc.url, err)
			continue
		}
		if c.base.Path != tc.path {
			t.Errorf("New(%q): path %q, want %q", tc.url, c.base.Path, tc.path)
		}
	}
}

// recorder is a server that answers a scripted list of responses and records the requests.
type recorder struct {
	answers []func(w http.ResponseWriter)
	calls   atomic.Int32
	last    *http.Request
	body    string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := int(r.calls.Add(1)) - 1
	data, _ := io.ReadAll(req.Body)
	r.last, r.body = req, string(data)
	if n >= len(r.answers) {
		n = len(r.answers) - 1
	}
	r.answers[n](w)
}

func answer(status int, header map[string]string, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

const problem429 = `{"type":"https://tourniquet.invalid/problems/rate-limited","title":"Too Many Requests","status":429,"detail":"20 remediations in the last hour","code":"rate_limited"}`

func newTestClient(t *testing.T, h http.Handler) (*Client, *[]time.Duration) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "k3y", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	return c, &waits
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	t.Parallel()
	run := `{"runId":"20261130t050421-0011223344556677","status":"queued","steps":[]}`
	cases := []struct {
		name      string
		answers   []func(http.ResponseWriter)
		wantCalls int
		wantWaits []time.Duration // exact, or nil to check only the count
		nWaits    int
		wantErr   string
	}{
		{"429 with Retry-After, then accepted",
			[]func(http.ResponseWriter){answer(429, map[string]string{"Retry-After": "3", "Content-Type": "application/problem+json"}, problem429), answer(202, nil, run)},
			2, []time.Duration{3 * time.Second}, 1, ""},
		{"503 without Retry-After backs off, then accepted",
			[]func(http.ResponseWriter){answer(503, nil, "busy"), answer(503, nil, "busy"), answer(202, nil, run)},
			3, nil, 2, ""},
		{"Retry-After past the cap is reported, not waited for",
			[]func(http.ResponseWriter){answer(429, map[string]string{"Retry-After": "3600", "Content-Type": "application/problem+json"}, problem429)},
			1, nil, 0, "HTTP 429 Too Many Requests (rate_limited): 20 remediations in the last hour"},
		{"at most three retries",
			[]func(http.ResponseWriter){answer(429, map[string]string{"Retry-After": "0", "Content-Type": "application/problem+json"}, problem429)},
			4, []time.Duration{0, 0, 0}, 3, "rate_limited"},
		{"a 409 is not retried",
			[]func(http.ResponseWriter){answer(409, map[string]string{"Content-Type": "application/problem+json"}, `{"title":"Conflict","status":409,"code":"idempotency_key_reused","detail":"the key belongs to another request"}`)},
			1, nil, 0, "idempotency_key_reused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{answers: tc.answers}
			c, waits := newTestClient(t, rec)
			doc, err := c.Start(context.Background(), StartRequest{User: "adele@contoso.com", IdempotencyKey: "k"})
			if got := int(rec.calls.Load()); got != tc.wantCalls {
				t.Errorf("calls %d, want %d", got, tc.wantCalls)
			}
			if len(*waits) != tc.nWaits {
				t.Errorf("waits %v, want %d", *waits, tc.nWaits)
			}
			for i, w := range tc.wantWaits {
				if i < len(*waits) && (*waits)[i] != w {
					t.Errorf("wait %d = %s, want %s", i, (*waits)[i], w)
				}
			}
			if tc.wantErr != "" {
				var p *Problem
				if !errors.As(err, &p) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want a problem with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || doc.Value.RunID != "20261130t050421-0011223344556677" || doc.Status != 202 || string(doc.Raw) != run {
				t.Fatalf("doc %+v, err %v", doc, err)
			}
			if got := rec.last.Header.Get("x-functions-key"); got != "k3y" {
				t.Errorf("key header %q", got)
			}
			if rec.body != `{"user":"adele@contoso.com","idempotencyKey":"k"}` {
				t.Errorf("body %s: only the fields asked for are sent (the service refuses unknown ones)", rec.body)
			}
		})
	}
}

func TestPathsAndQueriesAreEscaped(t *testing.T) {
	t.Parallel()
	rec := &recorder{answers: []func(http.ResponseWriter){answer(200, nil, `[]`)}}
	c, _ := newTestClient(t, rec)
	if _, err := c.List(context.Background(), "a&user=b@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if got := rec.last.URL.Query()["user"]; len(got) != 1 || got[0] != "a&user=b@contoso.com" {
		t.Errorf("user query %v", got)
	}
	for _, id := range []string{"../steps", "a/b", "x?y", "", ".."} {
		if _, err := c.Get(context.Background(), id); err == nil {
			t.Errorf("Get(%q) sent a request", id)
		}
	}
}

func TestNetworkErrorsRetryOnlyReads(t *testing.T) {
	t.Parallel()
	// A server that drops every connection: a GET is tried 1+3 times, a POST once (it may
	// have been carried out).
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	c, _ := New(srv.URL, "", time.Second)
	c.sleep = func(context.Context, time.Duration) error { return nil }
	if _, err := c.Steps(context.Background()); err == nil {
		t.Fatal("no error")
	}
	if got := calls.Load(); got != 4 {
		t.Errorf("GET tried %d times, want 4", got)
	}
	calls.Store(0)
	if _, err := c.Restore(context.Background(), "20261130t050421-0011223344556677", RestoreRequest{}); err == nil {
		t.Fatal("no error")
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("POST tried %d times, want 1", got)
	}
}

func TestTimeoutPerRequest(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c, _ := New(srv.URL, "", 100*time.Millisecond)
	c.Retries = 0
	start := time.Now()
	_, err := c.Steps(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("err %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s", took)
	}
}

// A redirect to another origin carries neither the function key nor Authorization; one to the
// same origin keeps the key (the Functions host checks it on every request).
func TestRedirectToAnotherOriginDropsTheKey(t *testing.T) {
	t.Parallel()
	type seen struct{ key, auth string }
	got := make(chan seen, 4)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Get(KeyHeader), r.Header.Get("Authorization")}
		answer(200, map[string]string{"Content-Type": "application/json"}, `{"runId":"r1","status":"succeeded"}`)(w)
	}))
	t.Cleanup(other.Close)
	var origin *httptest.Server
	origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/remediations/away":
			http.Redirect(w, r, other.URL+"/api/remediations/r1", http.StatusTemporaryRedirect)
		case "/api/remediations/here":
			http.Redirect(w, r, origin.URL+"/api/remediations/r1", http.StatusFound)
		default:
			got <- seen{r.Header.Get(KeyHeader), r.Header.Get("Authorization")}
			answer(200, map[string]string{"Content-Type": "application/json"}, `{"runId":"r1","status":"succeeded"}`)(w)
		}
	}))
	t.Cleanup(origin.Close)
	c, err := New(origin.URL, "k3y", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bearer := http.Header{"Authorization": {"Bearer t0ken"}}
	if _, _, _, err := c.call(context.Background(), http.MethodGet, "/api/remediations/away", nil, nil, bearer); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.key != "" || s.auth != "" {
		t.Fatalf("the other origin received key %q, Authorization %q", s.key, s.auth)
	}
	if _, err := c.Get(context.Background(), "here"); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.key != "k3y" {
		t.Fatalf("a same-origin redirect lost the key: %q", s.key)
	}
	// Same host, another scheme: the key stays behind too.
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8080/x", nil)
	req.Header.Set(KeyHeader, "k3y")
	via, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:8080/api/x", nil)
	if err := keepKeyOnOrigin(req, []*http.Request{via}); err != nil || req.Header.Get(KeyHeader) != "" {
		t.Fatalf("https to http kept the key: %v %q", err, req.Header.Get(KeyHeader))
	}
}
