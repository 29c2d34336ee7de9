package tenantsim

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestFailNext(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	sim.FailNext(1, "revokeSignInSessions", http.StatusServiceUnavailable)

	status, hdr, body := graphCallHTTP(t, sim, tok, http.MethodPost, "/users/"+demo.UserID+"/revokeSignInSessions", nil)
	if code, _ := graphErrorParts(t, body); status != 503 || code != "serviceNotAvailable" || hdr.Get("Retry-After") != "" {
		t.Errorf("injected failure: %d %s Retry-After %q", status, code, hdr.Get("Retry-After"))
	}
	if n := sim.SessionsRevoked(demo.UserID); n != 0 {
		t.Errorf("a failed request acted: %d revocations", n)
	}
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodPost, "/users/"+demo.UserID+"/revokeSignInSessions", nil); status != 200 {
		t.Errorf("next request: %d, want 200", status)
	}

	e := newExo(t, sim)
	sim.FailNext(1, "Get-InboxRule", http.StatusInternalServerError)
	status, body = e.call("Get-InboxRule", map[string]any{"Mailbox": demo.UPN})
	if code, _, _ := exoErrorParts(t, body); status != 500 || code != "InternalServerError" {
		t.Errorf("exchange failure: %d %s", status, code)
	}
}

func TestThrottleNextEmptyMatchHitsTokenEndpoint(t *testing.T) {
	t.Parallel()
	sim := startSim(t, Options{})
	sim.ThrottleNext(1, "", 1500*time.Millisecond)
	req, _ := http.NewRequest(http.MethodGet, sim.IdentityEndpoint()+"?api-version=2019-08-01&resource=https://graph.microsoft.com", nil)
	req.Header.Set("X-IDENTITY-HEADER", sim.IdentityHeader())
	status, hdr, _ := do(t, req)
	if status != 429 || hdr.Get("Retry-After") != "2" {
		t.Errorf("status %d Retry-After %q, want 429 and 2 (rounded up)", status, hdr.Get("Retry-After"))
	}
	fetchToken(t, sim, "https://graph.microsoft.com") // the next one succeeds
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	sim.SetRateLimit(3)
	var statuses []int
	var retryAfter string
	for range 6 {
		status, hdr, _ := graphCallHTTP(t, sim, tok, http.MethodGet, "/users/"+demo.UserID, nil)
		statuses = append(statuses, status)
		if status == 429 {
			retryAfter = hdr.Get("Retry-After")
		}
	}
	ok := 0
	for _, s := range statuses {
		if s == 200 {
			ok++
		}
	}
	// A burst of three passes; a token may refill during the loop, not three.
	if ok < 3 || ok > 4 || retryAfter != "1" {
		t.Errorf("statuses = %v, Retry-After %q", statuses, retryAfter)
	}
	sim.SetRateLimit(0)
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodGet, "/users/"+demo.UserID, nil); status != 200 {
		t.Errorf("after removing the limit: %d", status)
	}
}

func TestFaultRateProducesEveryKind(t *testing.T) {
	t.Parallel()
	sim := startSim(t, Options{FaultDelay: 2 * time.Second})
	sim.AddUser(User{ID: "u1", UserPrincipalName: "u1@contoso.example"})
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	sim.SetFaultRate(1, 42)

	client := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := map[string]int{}
	for range 40 {
		req, _ := http.NewRequest(http.MethodGet, sim.GraphURL()+"/users/u1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		var nerr net.Error
		switch {
		case err == nil:
			seen[http.StatusText(resp.StatusCode)]++
			resp.Body.Close()
		case errors.As(err, &nerr) && nerr.Timeout():
			seen["timeout"]++
		default:
			seen["reset"]++
		}
	}
	for _, kind := range []string{"Too Many Requests", "Internal Server Error", "Service Unavailable", "reset", "timeout"} {
		if seen[kind] == 0 {
			t.Errorf("fault %q never happened: %v", kind, seen)
		}
	}
	if seen["OK"] != 0 {
		t.Errorf("rate 1 let %d requests through", seen["OK"])
	}

	sim.SetFaultRate(0, 0)
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodGet, "/users/u1", nil); status != 200 {
		t.Errorf("rate 0: %d", status)
	}
}

func TestFaultRateIsReproducible(t *testing.T) {
	t.Parallel()
	run := func() []faultDecision {
		f := newFaultInjector(time.Second)
		sim := &Sim{faults: f}
		sim.SetFaultRate(0.5, 7)
		var out []faultDecision
		for range 50 {
			out = append(out, f.decide(faultKey{method: "GET", path: "/v1.0/users/x"}, true, true))
		}
		return out
	}
	a, b := run(), run()
	faults := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("decision %d differs: %+v vs %+v", i, a[i], b[i])
		}
		if a[i].kind != faultNone {
			faults++
		}
	}
	if faults < 10 || faults > 40 {
		t.Errorf("%d faults out of 50 at rate 0.5", faults)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	sim := startSim(t, Options{Latency: 120 * time.Millisecond})
	tok := fetchToken(t, sim, "https://graph.microsoft.com") // the token endpoint has no latency
	start := time.Now()
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodGet, "/roleManagement/directory/roleDefinitions", nil); status != 200 {
		t.Fatalf("status %d", status)
	}
	if d := time.Since(start); d < 120*time.Millisecond {
		t.Errorf("request took %v, want at least the 120ms latency", d)
	}
}

// TestThrottleWritesForAnswersWritesOnly: during the window every write (Graph POST,
// Exchange Set-*) is answered 429 with the given Retry-After and changes nothing; reads are
// served; after the window writes go through.
func TestThrottleWritesForAnswersWritesOnly(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	tok := fetchToken(t, sim, "https://graph.microsoft.com")
	sim.ThrottleWritesFor(300*time.Millisecond, 30*time.Second)

	status, hdr, _ := graphCallHTTP(t, sim, tok, http.MethodPost, "/users/"+demo.UserID+"/revokeSignInSessions", nil)
	if status != 429 || hdr.Get("Retry-After") != "30" || sim.SessionsRevoked(demo.UserID) != 0 {
		t.Fatalf("write in the window: %d Retry-After %q", status, hdr.Get("Retry-After"))
	}
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodGet, "/users/"+demo.UserID, nil); status != 200 {
		t.Fatalf("read in the window: %d", status)
	}
	e := newExo(t, sim)
	if status, _ := e.call("Get-Mailbox", map[string]any{"Identity": demo.UPN}); status != 200 {
		t.Errorf("Exchange read in the window: %d", status)
	}
	if status, _ := e.call("Set-Mailbox", map[string]any{"Identity": demo.UPN, "ForwardingSmtpAddress": nil}); status != 429 {
		t.Errorf("Exchange write in the window: %d", status)
	}
	time.Sleep(350 * time.Millisecond)
	if status, _, _ := graphCallHTTP(t, sim, tok, http.MethodPost, "/users/"+demo.UserID+"/revokeSignInSessions", nil); status != 200 {
		t.Fatalf("write after the window: %d", status)
	}
}
