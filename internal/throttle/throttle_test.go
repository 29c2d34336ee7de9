package throttle

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memShared is the shared store of a test: one value per service, as runs.Store keeps it.
type memShared struct {
	mu     sync.Mutex
	at     map[string]time.Time
	reads  atomic.Int64
	writes atomic.Int64
}

func (m *memShared) NotBefore(_ context.Context, service string) (time.Time, error) {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.at[service], nil
}

func (m *memShared) HoldUntil(_ context.Context, service string, at time.Time) (time.Time, error) {
	m.writes.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at == nil {
		m.at = map[string]time.Time{}
	}
	if at.After(m.at[service]) {
		m.at[service] = at
	}
	return m.at[service], nil
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

// TestA429OnOneInstanceHoldsBackTheOthers: instance A is told 429 Retry-After 2; instance B
// (its own gate, the same shared store) holds its next call back instead of sending it,
// once its cached view (300 ms) is refreshed; a wait longer than MaxInlineWait fails at once
// with *HeldBack naming the time calls resume.
func TestA429OnOneInstanceHoldsBackTheOthers(t *testing.T) {
	var served, throttled atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/throttle" {
			throttled.Add(1)
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		served.Add(1)
	}))
	defer srv.Close()
	shared := &memShared{}
	a := &Gate{Service: "graph", Shared: shared, MaxInlineWait: 500 * time.Millisecond}
	b := &Gate{Service: "graph", Shared: shared, MaxInlineWait: 500 * time.Millisecond}
	clientA := &http.Client{Transport: a.Transport(nil)}
	clientB := &http.Client{Transport: b.Transport(nil)}

	if resp, err := clientB.Get(srv.URL + "/ok"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("before any throttling: %v", err)
	}
	resp, err := clientA.Get(srv.URL + "/throttle")
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("throttled call: %v", err)
	}
	eventually(t, "the not-before reaches the shared store", func() bool { return shared.writes.Load() == 1 })
	eventually(t, "instance B sees it", func() bool { return b.current().After(time.Now().Add(time.Second)) })

	_, err = clientB.Get(srv.URL + "/ok")
	var held *HeldBack
	if !errors.As(err, &held) || held.Service != "graph" || held.Until.Before(time.Now().Add(time.Second)) {
		t.Fatalf("instance B's call while the tenant is throttled: %v, want *HeldBack until ~2 s from now", err)
	}
	if got := served.Load(); got != 1 {
		t.Errorf("%d calls served, want 1: the held-back call reached the service", got)
	}
	if h, _ := b.Stats(); h != 1 {
		t.Errorf("held %d, want 1", h)
	}
	// A's own later call is held back too, without asking the store again.
	if _, err := clientA.Get(srv.URL + "/ok"); !errors.As(err, &held) {
		t.Fatalf("instance A: %v", err)
	}
	if throttled.Load() != 1 {
		t.Errorf("%d 429s, want 1", throttled.Load())
	}
}

// TestAShortWaitIsWaitedOut: a Retry-After within MaxInlineWait delays the next call
// instead of failing it, and a 503 without Retry-After (an outage) holds nothing back.
func TestAShortWaitIsWaitedOut(t *testing.T) {
	g := &Gate{Service: "exchange", MaxInlineWait: 2 * time.Second}
	g.Observe(&http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}})
	if !g.current().IsZero() {
		t.Fatal("a 503 without Retry-After held calls back")
	}
	g.Observe(&http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}})
	start := time.Now()
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The Retry-After, then the release spread over up to as long again.
	if waited := time.Since(start); waited < 900*time.Millisecond || waited > 2500*time.Millisecond {
		t.Errorf("waited %v, want the Retry-After of 1 s and at most 1 s of spread", waited)
	}
	// A wait that would outlast the caller's deadline fails at once.
	g.Hold(time.Now().Add(1500 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var held *HeldBack
	if err := g.Wait(ctx); !errors.As(err, &held) {
		t.Fatalf("wait past the deadline: %v", err)
	}
}

// TestCallsHeldTogetherAreReleasedSpreadOut: calls held back by the same Retry-After do not
// all go out at the instant it ends, where they would meet the service's next second of
// budget together.
func TestCallsHeldTogetherAreReleasedSpreadOut(t *testing.T) {
	g := &Gate{Service: "graph"}
	g.Observe(&http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}})
	const calls = 50
	released := make(chan time.Time, calls)
	for range calls {
		go func() {
			if err := g.Wait(context.Background()); err != nil {
				t.Error(err)
			}
			released <- time.Now()
		}()
	}
	var first, last time.Time
	for range calls {
		at := <-released
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	// 50 release times drawn over 1 s all fall within 400 ms with a probability below 1e-15.
	if spread := last.Sub(first); spread < 400*time.Millisecond {
		t.Errorf("50 held calls released within %v of each other, want them spread over about a second", spread)
	}
}

// TestRetryAfterIsClamped: a Retry-After (seconds or HTTP date) longer than the handler
// ever waits still throttles, for bounds.RetryAfter (5 minutes) at most.
func TestRetryAfterIsClamped(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"soon", 0, false},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"2", 2 * time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{"300", 5 * time.Minute, true},
		{"301", 5 * time.Minute, true},
		{"86400", 5 * time.Minute, true},
		{"999999999", 5 * time.Minute, true},
		{"1e300", 5 * time.Minute, true},
		{"+Inf", 5 * time.Minute, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{now.Add(6 * time.Hour).Format(http.TimeFormat), 5 * time.Minute, true},
		{"Thu, 01 Jan 2099 00:00:00 GMT", 5 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got, ok := retryAfter(tt.in, now); got != tt.want || ok != tt.ok {
				t.Errorf("retryAfter(%q) = %v %v, want %v %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestAHugeRetryAfterHoldsBackForTheBoundOnly: a 429 whose Retry-After is a date in 2099
// holds this instance's calls, and the "not before" written for the others, for at most
// bounds.RetryAfter; so does a direct Hold.
func TestAHugeRetryAfterHoldsBackForTheBoundOnly(t *testing.T) {
	for _, header := range []string{"999999999", "Thu, 01 Jan 2099 00:00:00 GMT"} {
		t.Run(header, func(t *testing.T) {
			shared := &memShared{}
			g := &Gate{Service: "graph", Shared: shared}
			resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {header}}}
			g.Observe(resp)
			limit := time.Now().Add(5*time.Minute + time.Second)
			if until := g.current(); until.After(limit) {
				t.Fatalf("held back until %v, past the 5-minute bound", until)
			}
			eventually(t, "the not before is shared", func() bool { at, _ := shared.NotBefore(context.Background(), "graph"); return !at.IsZero() })
			if at, _ := shared.NotBefore(context.Background(), "graph"); at.After(limit) {
				t.Fatalf("wrote %v to the shared store, past the 5-minute bound", at)
			}
			g.Hold(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
			if until := g.current(); until.After(time.Now().Add(5*time.Minute + time.Second)) {
				t.Fatalf("Hold(2099) holds back until %v", until)
			}
		})
	}
}
