package graph

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// Graph's message trace against the simulator: refused with the documented 401 until
// Microsoft's message trace app has a service principal, then read by sender address in
// windows of at most 10 days, every page.
func TestMessageTracesAgainstTheSimulator(t *testing.T) {
	c, sim, demo := simClient(t, 20)
	ctx := context.Background()
	now := time.Now()

	_, err := c.MessageTraces(ctx, []string{demo.UPN}, now.Add(-7*24*time.Hour), now)
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized || !strings.Contains(ge.Message, MessageTraceAppID) {
		t.Fatalf("without the service principal: %v, want 401 naming %s", err, MessageTraceAppID)
	}

	sim.SetMessageTraceServicePrincipal(true)
	sim.ResetRequests()
	rows, err := c.MessageTraces(ctx, []string{demo.UPN}, now.Add(-30*24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	// Six days of four messages to five recipient rows... the demo's own count: 6 x (3
	// messages to 2 colleagues + 1 order confirmation) + the attacker's 45.
	if want := 6*(3*2+1) + 45; len(rows) != want {
		t.Errorf("%d rows, want %d", len(rows), want)
	}
	for _, r := range rows {
		if !strings.EqualFold(r.Sender, demo.UPN) || r.Recipient == "" || r.Received.IsZero() || r.ID == "" {
			t.Fatalf("row %+v", r)
		}
	}
	windows := map[string]bool{}
	for _, req := range sim.Requests() {
		if !strings.HasSuffix(req.Path, "/admin/exchange/tracing/messageTraces") {
			continue
		}
		q, _ := url.ParseQuery(req.RawQuery)
		f := q.Get("$filter")
		if !strings.HasPrefix(f, "senderAddress eq '"+strings.ToLower(demo.UPN)+"' and receivedDateTime ge ") {
			t.Errorf("filter %q", f)
		}
		windows[f] = true
	}
	if len(windows) != 3 {
		t.Errorf("%d windows for 30 days, want 3 of at most 10 days", len(windows))
	}

	for _, bad := range []string{"x' or 1 eq 1 or senderAddress eq 'y@contoso.com", "not an address", ""} {
		if _, err := c.MessageTraces(ctx, []string{bad}, now.Add(-time.Hour), now); !errors.Is(err, ErrInvalidID) {
			t.Errorf("sender %q: %v, want ErrInvalidID", bad, err)
		}
	}
}

// Sign-ins: beta with non-interactive ones, session and token ids; beta refused, v1.0
// (interactive only) with the refusal said; the licence error is not retried on v1.0; the
// non-interactive listing is capped, newest first, and the cap is said.
func TestUserSignInsAgainstTheSimulator(t *testing.T) {
	c, sim, demo := simClient(t, 5)
	ctx := context.Background()
	since := time.Now().Add(-7 * 24 * time.Hour)

	got, err := c.UserSignIns(ctx, demo.UserID, since)
	if err != nil || !got.NonInteractive || got.BetaError != nil {
		t.Fatalf("beta: %+v, %v", got, err)
	}
	nonInteractive := 0
	for _, in := range got.SignIns {
		if in.SessionID == "" || in.TokenID == "" || in.CorrelationID == "" {
			t.Errorf("sign-in without its ids: %+v", in)
		}
		if in.NonInteractive {
			nonInteractive++
		}
	}
	if nonInteractive != 1 || len(got.SignIns) != 18 {
		t.Errorf("%d sign-ins, %d non-interactive; want 18 and 1", len(got.SignIns), nonInteractive)
	}

	sim.RefuseBetaSignIns(true)
	got, err = c.UserSignIns(ctx, demo.UserID, since)
	var ge *Error
	if err != nil || got.NonInteractive || !errors.As(got.BetaError, &ge) || ge.Status != http.StatusBadRequest || len(got.SignIns) != 17 {
		t.Fatalf("beta refused: %d sign-ins, non-interactive %v, beta error %v, err %v", len(got.SignIns), got.NonInteractive, got.BetaError, err)
	}
	for _, in := range got.SignIns {
		if in.SessionID != "" || in.NonInteractive {
			t.Errorf("v1.0 sign-in with beta properties: %+v", in)
		}
	}

	sim.SetSignInLogsLicensed(false)
	sim.ResetRequests()
	if _, err := c.UserSignIns(ctx, demo.UserID, since); !errors.As(err, &ge) || ge.Code != SignInLicenceRequired {
		t.Fatalf("unlicensed: %v", err)
	}
	for _, r := range sim.Requests() {
		if strings.HasPrefix(r.Path, "/v1.0/") {
			t.Errorf("unlicensed: v1.0 asked too (%s), though it answers the same", r.Path)
		}
	}
}

// The non-interactive listing stops at its page cap, keeps the newest, and says so.
func TestUserSignInsCapsTheNonInteractiveListing(t *testing.T) {
	c, sim, demo := simClient(t, 5)
	before := maxNonInteractivePages
	maxNonInteractivePages = 1
	t.Cleanup(func() { maxNonInteractivePages = before })
	now := time.Now()
	for i := 0; i < signInPage+10; i++ {
		sim.AddSignIn(tenantsim.SignIn{UserID: demo.UserID, Time: now.Add(-time.Duration(i+1) * time.Minute), App: "Outlook", IP: "203.0.113.10", Country: "US", NonInteractive: true})
	}
	got, err := c.UserSignIns(context.Background(), demo.UserID, now.Add(-7*24*time.Hour))
	if err != nil || !got.NonInteractive || !strings.Contains(got.NonInteractiveCut, "only the newest 1000 non-interactive sign-ins") {
		t.Fatalf("cut %q, err %v", got.NonInteractiveCut, err)
	}
	newest := now.Add(-time.Minute)
	seenNewest := false
	for _, in := range got.SignIns {
		seenNewest = seenNewest || in.NonInteractive && in.Time.Equal(newest.UTC().Truncate(time.Second))
	}
	if n := len(got.SignIns); n != 17+signInPage || !seenNewest {
		t.Errorf("%d sign-ins (want the 17 interactive and the newest %d non-interactive), newest kept %v", n, signInPage, seenNewest)
	}
}

// UserSignInsUpTo caps the non-interactive pages at the caller's number (the eviction
// watch's per-check bound), and a non-interactive listing that fails while the
// interactive one answers keeps the interactive sign-ins and gives its error apart.
func TestUserSignInsUpToCapsAndGivesTheNonInteractiveError(t *testing.T) {
	c, sim, demo := simClient(t, 5)
	now := time.Now()
	for i := 0; i < signInPage+10; i++ {
		sim.AddSignIn(tenantsim.SignIn{UserID: demo.UserID, Time: now.Add(-time.Duration(i+1) * time.Second), App: "Outlook", IP: "203.0.113.10", Country: "US", NonInteractive: true})
	}
	since := now.Add(-7 * 24 * time.Hour)
	got, err := c.UserSignInsUpTo(context.Background(), demo.UserID, since, 1)
	if err != nil || !got.NonInteractive || got.NonInteractiveErr != nil || !strings.Contains(got.NonInteractiveCut, "(1 pages of 1000)") {
		t.Fatalf("cut %q, non-interactive error %v, err %v", got.NonInteractiveCut, got.NonInteractiveErr, err)
	}
	full, err := c.UserSignIns(context.Background(), demo.UserID, since)
	if err != nil || full.NonInteractiveCut != "" || len(full.SignIns)-len(got.SignIns) < 10 {
		t.Fatalf("UserSignIns: %d sign-ins, cut %q, err %v (capped: %d)", len(full.SignIns), full.NonInteractiveCut, err, len(got.SignIns))
	}

	sim.ThrottleNextWhere(20, "auditLogs/signIns", "'nonInteractiveUser'", 0)
	got, err = c.UserSignInsUpTo(context.Background(), demo.UserID, since, 1)
	var ge *Error
	if err != nil || !errors.As(got.NonInteractiveErr, &ge) || ge.Status != 429 || got.NonInteractiveCut == "" {
		t.Fatalf("throttled non-interactive listing: err %v, non-interactive error %v, cut %q", err, got.NonInteractiveErr, got.NonInteractiveCut)
	}
	for _, in := range got.SignIns {
		if in.NonInteractive {
			t.Fatalf("a non-interactive sign-in read through the throttle: %+v", in)
		}
	}
	if len(got.SignIns) == 0 {
		t.Fatal("the interactive sign-ins were not kept")
	}
}

// A service that ignores the signInEventTypes clause answers both beta listings alike: each
// sign-in is still listed once, not once per listing.
func TestUserSignInsListsASignInOnceWhenBothListingsAnswerIt(t *testing.T) {
	f := newFakeGraph(t)
	f.mu.Lock()
	f.routes["GET /beta/auditLogs/signIns"] = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, collection([]any{
			map[string]any{"id": "s1", "userId": userID, "createdDateTime": "2026-12-07T10:00:00Z", "ipAddress": "198.51.100.23"},
			map[string]any{"id": "s2", "userId": userID, "createdDateTime": "2026-12-07T11:00:00Z", "ipAddress": "203.0.113.9"},
		}, ""))
	}
	f.mu.Unlock()
	got, err := newTestClient(t, f).UserSignIns(context.Background(), userID, time.Now().Add(-24*time.Hour))
	if err != nil || !got.NonInteractive {
		t.Fatalf("UserSignIns: %+v, %v", got, err)
	}
	if len(got.SignIns) != 2 || got.SignIns[0].ID != "s1" || got.SignIns[1].ID != "s2" {
		t.Errorf("sign-ins %+v, want s1 and s2 once each", got.SignIns)
	}
	if n := len(f.seen()); n != 2 {
		t.Errorf("requests = %d, want the two listings", n)
	}
}
