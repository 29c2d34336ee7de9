package exchange

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetries(t *testing.T) {
	inTwoMinutes := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	inTenSeconds := time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)
	throttled := func(retryAfter string) answer {
		a := fail(429, "TooManyRequests", "Rate limit exceeded.")
		if retryAfter != "" {
			a.header = map[string]string{"Retry-After": retryAfter}
		}
		return a
	}
	tests := []struct {
		name       string
		answers    []answer // the last one repeats
		maxRetries int
		wantCalls  int
		wantErr    bool
		transient  bool
		checkWaits func(t *testing.T, waits []time.Duration)
		retryAfter time.Duration
	}{
		{name: "429 honours Retry-After seconds", answers: []answer{throttled("2"), ok(`{}`)}, wantCalls: 2,
			checkWaits: exactly(2 * time.Second)},
		{name: "429 honours Retry-After as HTTP date", answers: []answer{throttled(inTenSeconds), ok(`{}`)}, wantCalls: 2,
			checkWaits: func(t *testing.T, w []time.Duration) {
				if len(w) != 1 || w[0] < 8*time.Second || w[0] > 11*time.Second {
					t.Errorf("waits = %v, want about 10s", w)
				}
			}},
		{name: "503 without Retry-After backs off with jitter", answers: []answer{fail(503, "ServiceUnavailable", "busy"), fail(503, "ServiceUnavailable", "busy"), ok(`{}`)}, wantCalls: 3,
			checkWaits: func(t *testing.T, w []time.Duration) {
				if len(w) != 2 || w[0] < 500*time.Millisecond || w[0] > time.Second || w[1] < time.Second || w[1] > 2*time.Second {
					t.Errorf("waits = %v, want [0.5s..1s, 1s..2s]", w)
				}
			}},
		{name: "500 is retried", answers: []answer{fail(500, "InternalServerError", "oops"), ok(`{}`)}, wantCalls: 2},
		{name: "502 is retried", answers: []answer{{status: 502, body: "<html>Bad Gateway</html>"}, ok(`{}`)}, wantCalls: 2},
		{name: "504 is retried", answers: []answer{{status: 504, body: "upstream timed out"}, ok(`{}`)}, wantCalls: 2},
		{name: "400 is not retried", answers: []answer{fail(400, "BadRequest", "bad")}, wantCalls: 1, wantErr: true},
		{name: "403 is not retried", answers: []answer{fail(403, "Forbidden", "no role")}, wantCalls: 1, wantErr: true},
		{name: "404 is not retried", answers: []answer{fail(404, "NotFound", "gone")}, wantCalls: 1, wantErr: true},
		{name: "501 is transient but not retried", answers: []answer{fail(501, "NotImplemented", "no")}, wantCalls: 1, wantErr: true, transient: true},
		{name: "persistent 503 gives up after MaxRetries", answers: []answer{fail(503, "ServiceUnavailable", "busy")}, maxRetries: 2,
			wantCalls: 3, wantErr: true, transient: true},
		{name: "negative MaxRetries never retries", answers: []answer{fail(503, "ServiceUnavailable", "busy")}, maxRetries: -1,
			wantCalls: 1, wantErr: true, transient: true},
		{name: "Retry-After beyond MaxRetryWait returns at once", answers: []answer{throttled("120")}, wantCalls: 1, wantErr: true,
			transient: true, retryAfter: 120 * time.Second, checkWaits: exactly()},
		{name: "HTTP-date Retry-After beyond MaxRetryWait returns at once", answers: []answer{throttled(inTwoMinutes)}, wantCalls: 1,
			wantErr: true, transient: true, checkWaits: exactly()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestClient(t, func(n int, _ call) answer { return tt.answers[min(n, len(tt.answers))-1] },
				func(o *Options) { o.MaxRetries = tt.maxRetries })
			_, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-AcceptedDomain", nil)
			if got := len(s.fake.recorded()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if int(s.cred.calls.Load()) != tt.wantCalls {
				t.Errorf("token requests = %d, want one per attempt (%d)", s.cred.calls.Load(), tt.wantCalls)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Invoke: %v", err)
				}
			} else {
				e := asError(t, err)
				if e.Transient() != tt.transient {
					t.Errorf("Transient() = %v, want %v (%v)", e.Transient(), tt.transient, e)
				}
				if tt.retryAfter != 0 && e.RetryAfter != tt.retryAfter {
					t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.retryAfter)
				}
				// Throttling is what a queued step is deferred by (contract 6.2): a 429, or a
				// 503 that names a Retry-After; any other failure is not.
				wantThrottled := tt.answers[len(tt.answers)-1].status == 429
				if wait, throttled := e.Throttled(); throttled != wantThrottled || throttled && wait != e.RetryAfter {
					t.Errorf("Throttled() = %v, %v; want %v with RetryAfter %v", wait, throttled, wantThrottled, e.RetryAfter)
				}
			}
			if tt.checkWaits != nil {
				tt.checkWaits(t, s.sleeps.recorded())
			}
		})
	}
}

func exactly(want ...time.Duration) func(t *testing.T, got []time.Duration) {
	return func(t *testing.T, got []time.Duration) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("waits = %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("waits = %v, want %v", got, want)
			}
		}
	}
}

func TestEachAttemptHasItsOwnTimeout(t *testing.T) {
	s := newTestClient(t, func(n int, _ call) answer {
		if n == 1 {
			return answer{status: 200, body: `{"value":[]}`, delay: 2 * time.Second}
		}
		return ok(`{"late":false}`)
	}, func(o *Options) { o.Timeout = 100 * time.Millisecond })

	started := time.Now()
	items, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-AcceptedDomain", nil)
	if err != nil || len(items) != 1 {
		t.Fatalf("Invoke = %s, %v; want the second attempt's answer", items, err)
	}
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Errorf("took %v: the first attempt was not cut at its timeout", elapsed)
	}
	if len(s.sleeps.recorded()) != 1 {
		t.Errorf("waits = %v, want one backoff", s.sleeps.recorded())
	}
}

func TestTimeoutThatPersistsIsATransientStatusZeroError(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return answer{status: 200, body: `{}`, delay: time.Second} },
		func(o *Options) { o.Timeout = 50 * time.Millisecond; o.MaxRetries = 1 })
	_, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-AcceptedDomain", nil)
	e := asError(t, err)
	if e.Status != 0 || e.Code != "Timeout" || !e.Transient() || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %+v (%v)", e, err)
	}
	if len(s.fake.recorded()) != 2 {
		t.Errorf("calls = %d, want 2", len(s.fake.recorded()))
	}
}

func TestNetworkErrorIsATransientStatusZeroError(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok() }, func(o *Options) { o.MaxRetries = 2 })
	s.fake.server.Close() // connection refused from now on

	_, err := s.client.Invoke(context.Background(), AnchorUser("jdoe@contoso.com"), "Get-Mailbox", map[string]any{"Identity": "jdoe@contoso.com"})
	e := asError(t, err)
	if e.Status != 0 || e.Code != "NetworkError" || !e.Transient() || e.Cmdlet != "Get-Mailbox" {
		t.Errorf("error = %+v", e)
	}
	if len(s.sleeps.recorded()) != 2 {
		t.Errorf("waits = %v, want 2 retries", s.sleeps.recorded())
	}
	if !strings.Contains(err.Error(), "no answer from the service") {
		t.Errorf("text = %q", err.Error())
	}
}

func TestCallerCancellationStopsRetrying(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := newTestClient(t, func(int, call) answer {
		cancel()
		return fail(503, "ServiceUnavailable", "busy")
	})
	_, err := s.client.Invoke(ctx, AnchorApp(testTenant), "Get-AcceptedDomain", nil)
	if err == nil {
		t.Fatal("want an error")
	}
	if n := len(s.fake.recorded()); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

func TestTokenFailureIsNotRetriedAndNamesTheCause(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok() })
	s.cred.err = errors.New("ManagedIdentityCredential: no identity endpoint")
	_, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-AcceptedDomain", nil)
	e := asError(t, err)
	if e.Code != "TokenUnavailable" || !strings.Contains(e.Message, "no identity endpoint") || !e.Transient() {
		t.Errorf("error = %+v", e)
	}
	if len(s.fake.recorded()) != 0 || s.cred.calls.Load() != 1 {
		t.Errorf("calls = %d, token requests = %d", len(s.fake.recorded()), s.cred.calls.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 12 ", 12 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"99999999", 5 * time.Minute}, // bounds.RetryAfter
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := parseRetryAfter(tt.in, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	c := &Client{maxRetryWait: 5 * time.Second}
	for attempt, bounds := range [][2]time.Duration{{500 * time.Millisecond, time.Second}, {time.Second, 2 * time.Second},
		{2 * time.Second, 4 * time.Second}, {2500 * time.Millisecond, 5 * time.Second}, {2500 * time.Millisecond, 5 * time.Second}} {
		for range 50 {
			if d := c.backoff(attempt); d < bounds[0] || d > bounds[1] {
				t.Fatalf("backoff(%d) = %v, want within %v", attempt, d, bounds)
			}
		}
	}
	if d := c.backoff(200); d < 2500*time.Millisecond || d > 5*time.Second {
		t.Errorf("backoff(200) = %v overflowed", d)
	}
}

func TestNoRetryWhenTheCallersDeadlineComesFirst(t *testing.T) {
	s := newTestClient(t, func(int, call) answer {
		a := fail(429, "TooManyRequests", "slow down")
		a.header = map[string]string{"Retry-After": "20"}
		return a
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.client.Invoke(ctx, AnchorApp(testTenant), "Get-AcceptedDomain", nil)
	if e := asError(t, err); e.Status != 429 || e.RetryAfter != 20*time.Second || !e.Transient() {
		t.Errorf("error = %+v", e)
	}
	if len(s.sleeps.recorded()) != 0 || len(s.fake.recorded()) != 1 {
		t.Errorf("waits = %v, calls = %d; want neither a wait nor a retry", s.sleeps.recorded(), len(s.fake.recorded()))
	}
}

func TestInterruptedWaitKeepsTheLastAnswer(t *testing.T) {
	stop := errors.New("host shutting down")
	s := newTestClient(t, func(int, call) answer { return fail(503, "ServiceUnavailable", "busy") },
		func(o *Options) { o.Sleep = func(context.Context, time.Duration) error { return stop } })
	_, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-AcceptedDomain", nil)
	e := asError(t, err)
	if e.Status != 503 || !e.Transient() || !errors.Is(err, stop) || !strings.Contains(e.Message, "busy") {
		t.Errorf("error = %+v", e)
	}
}

// TestParseRetryAfterIsClamped: a Retry-After longer than bounds.RetryAfter (5 minutes), in
// either form, defers a step by the bound, not by what the header says.
func TestParseRetryAfterIsClamped(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"300", 5 * time.Minute},
		{"301", 5 * time.Minute},
		{"86400", 5 * time.Minute},
		{"999999999", 5 * time.Minute},
		{"99999999999999999999999", 5 * time.Minute}, // past int64
		{"-99999999999999999999999", 0},
		{now.Add(6 * time.Hour).Format(http.TimeFormat), 5 * time.Minute},
		{"Thu, 01 Jan 2099 00:00:00 GMT", 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := parseRetryAfter(tt.in, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
