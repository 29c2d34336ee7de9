package graph

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
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
