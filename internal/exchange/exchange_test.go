package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// This file holds a fake Exchange Online InvokeCommand endpoint that checks what the real
// service checks: the bearer token, X-AnchorMailbox, the body shape and the Prefer header.
// Each test scripts the answers per call.

const (
	testTenant = "11111111-2222-3333-4444-555555555555"
	testToken  = "eyJ0eXAi.secret-outlook-token.sig"
)

// fakeCredential hands out testToken for the Exchange scope only and counts requests.
type fakeCredential struct {
	calls atomic.Int32
	err   error
}

func (f *fakeCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.calls.Add(1)
	if f.err != nil {
		return azcore.AccessToken{}, f.err
	}
	if len(opts.Scopes) != 1 || opts.Scopes[0] != Scope {
		return azcore.AccessToken{}, fmt.Errorf("unexpected scopes %v", opts.Scopes)
	}
	return azcore.AccessToken{Token: testToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// call is one request the fake accepted.
type call struct {
	Path    string
	Anchor  string
	Cmdlet  string
	Params  map[string]any
	RawBody string
}

// answer is what the fake sends back.
type answer struct {
	status int
	header map[string]string
	body   string
	delay  time.Duration // hold the answer, to provoke client timeouts
}

func ok(items ...string) answer {
	return answer{status: 200, body: `{"@odata.context":"x","value":[` + strings.Join(items, ",") + `]}`}
}

func fail(status int, code, detail string) answer {
	return answer{status: status, body: fmt.Sprintf(
		`{"error":{"code":%q,"message":"generic","details":[{"code":%q,"message":%q,"target":""}],"innererror":{"message":"x","type":"T","internalException":{"message":"inner"}}}}`,
		code, code, detail)}
}

type fakeExchange struct {
	t       *testing.T
	server  *httptest.Server
	respond func(n int, c call) answer // n counts accepted calls from 1

	mu    sync.Mutex
	calls []call
}

var anchorPattern = regexp.MustCompile(`^(UPN:[^@\s]+@[^@\s]+|APP:SystemMailbox\{bb558c35-97f1-4cb9-8ff7-d53741dc928c\}@` + testTenant + `)$`)

func newFakeExchange(t *testing.T, respond func(n int, c call) answer) *fakeExchange {
	t.Helper()
	f := &fakeExchange{t: t, respond: respond}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

func (f *fakeExchange) serve(w http.ResponseWriter, r *http.Request) {
	reject := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
	}
	switch {
	case r.Method != http.MethodPost:
		reject(405, "MethodNotAllowed", r.Method)
		return
	case !strings.HasPrefix(r.URL.Path, "/adminapi/beta/"+testTenant+"/InvokeCommand"):
		reject(404, "NotFound", "no route "+r.URL.Path)
		return
	case r.Header.Get("Authorization") != "Bearer "+testToken:
		reject(401, "InvalidAuthenticationToken", "Access token is empty.")
		return
	case !anchorPattern.MatchString(r.Header.Get("X-AnchorMailbox")):
		reject(400, "BadRequest", "bad X-AnchorMailbox "+r.Header.Get("X-AnchorMailbox"))
		return
	case r.Header.Get("Prefer") != "odata.maxpagesize=1000":
		reject(400, "BadRequest", "missing Prefer")
		return
	case r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json":
		reject(415, "UnsupportedMediaType", "json only")
		return
	}
	rawBody, err := io.ReadAll(r.Body)
	if err != nil {
		reject(400, "BadRequest", "unreadable body")
		return
	}
	var body struct {
		CmdletInput struct {
			CmdletName string
			Parameters map[string]any
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(rawBody)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.CmdletInput.CmdletName == "" || body.CmdletInput.Parameters == nil {
		reject(400, "BadRequest", fmt.Sprintf("bad body: %v", err))
		return
	}
	params := body.CmdletInput.Parameters
	if _, m := params["Mailbox"]; m {
		if _, i := params["Identity"]; i {
			reject(400, "BadRequest", "Mailbox and Identity together")
			return
		}
	}
	c := call{Path: r.URL.RequestURI(), Anchor: r.Header.Get("X-AnchorMailbox"), Cmdlet: body.CmdletInput.CmdletName, Params: params, RawBody: string(rawBody)}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	n := len(f.calls)
	f.mu.Unlock()

	a := f.respond(n, c)
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	fmt.Fprint(w, a.body)
}

func (f *fakeExchange) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeExchange) baseURL() string { return f.server.URL + "/adminapi/beta" }

// sleepRecorder replaces real waiting between retries.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

type clientSetup struct {
	client *Client
	fake   *fakeExchange
	cred   *fakeCredential
	sleeps *sleepRecorder
}

func newTestClient(t *testing.T, respond func(n int, c call) answer, tweak ...func(*Options)) clientSetup {
	t.Helper()
	fake := newFakeExchange(t, respond)
	cred := &fakeCredential{}
	sleeps := &sleepRecorder{}
	opts := Options{BaseURL: fake.baseURL(), TenantID: testTenant, Credential: cred, Sleep: sleeps.sleep, Timeout: 2 * time.Second}
	for _, f := range tweak {
		f(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return clientSetup{client: c, fake: fake, cred: cred, sleeps: sleeps}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *exchange.Error", err, err)
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "secret-outlook-token") {
		t.Fatalf("error text leaks the token: %v", err)
	}
	return e
}

// onlyCall returns the single request the fake accepted, failing the test otherwise.
func (f *fakeExchange) onlyCall() call {
	f.t.Helper()
	calls := f.recorded()
	if len(calls) != 1 {
		f.t.Fatalf("Exchange accepted %d requests, want exactly 1: %+v", len(calls), calls)
	}
	return calls[0]
}
