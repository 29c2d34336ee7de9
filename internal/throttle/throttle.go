// Package throttle shares a service's throttling across every handler instance of the
// tenant. When Graph or Exchange tells one instance to wait (429, or 503 with Retry-After),
// that "not before" is written to Table Storage; every instance reads it (cached for a few
// hundred milliseconds) before its calls and holds them back until then, so the tenant's
// identity spends its budget on work, not on 429s.
//
// The gate sits in the HTTP transport under each client's own retry logic, so it sees every
// attempt: a short wait is waited out in place; a longer one (or one past the call's
// deadline) fails the call at once with *HeldBack, which the clients map to a throttled
// error, and a queued step is then deferred like one Graph throttled itself.
package throttle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tourniquet/tourniquet/internal/bounds"
)

// Shared is where the tenant's "not before" per service is kept (runs.Store).
type Shared interface {
	NotBefore(ctx context.Context, service string) (time.Time, error)
	HoldUntil(ctx context.Context, service string, at time.Time) (time.Time, error)
}

// Defaults of Gate.
const (
	DefaultCacheFor      = 300 * time.Millisecond
	DefaultMaxInlineWait = 5 * time.Second
	// writeSlack: a "not before" only this much later than the shared one is not written
	// again; every instance's own 429s keep it honest.
	writeSlack = 200 * time.Millisecond
	storeCall  = 5 * time.Second
)

// Gate holds back calls to one service while the tenant is throttled. It is safe for
// concurrent use.
type Gate struct {
	Service string // "graph" or "exchange": the row in the shared store
	Shared  Shared // nil: this instance's own 429s only
	// CacheFor is how long the shared value read is trusted before it is read again (in
	// the background: a call never waits on the store). Default 300 ms.
	CacheFor time.Duration
	// MaxInlineWait is the longest a call waits in place; longer waits fail it with
	// *HeldBack. Default 5 s.
	MaxInlineWait time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu        sync.Mutex
	notBefore time.Time // the latest known: own 429s and the shared value
	shared    time.Time // the shared value as last read or written
	readAt    time.Time
	reading   bool
	writing   bool
	toWrite   time.Time // a later value to write once the write in flight ends

	held, waited atomic.Int64
}

// HeldBack is the error of a call the gate did not send.
type HeldBack struct {
	Service string
	Until   time.Time
}

func (e *HeldBack) Error() string {
	return fmt.Sprintf("held back: %s asked this tenant to wait; calls resume at %s (shared throttle)", e.Service, e.Until.UTC().Format(time.RFC3339))
}

// HeldBackUntil is what the clients look for (graph.Error, exchange.Error) without
// importing this package.
func (e *HeldBack) HeldBackUntil() time.Time { return e.Until }

// Stats counts calls held back (failed with *HeldBack) and calls that waited in place.
func (g *Gate) Stats() (held, waited int64) { return g.held.Load(), g.waited.Load() }

func (g *Gate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Wait returns when the service may be called, or *HeldBack when the wait is longer than
// MaxInlineWait or would outlast ctx's deadline.
func (g *Gate) Wait(ctx context.Context) error {
	for {
		until := g.current()
		wait := until.Sub(g.now())
		if wait <= 0 {
			return nil
		}
		maxWait := g.MaxInlineWait
		if maxWait <= 0 {
			maxWait = DefaultMaxInlineWait
		}
		if deadline, ok := ctx.Deadline(); wait > maxWait || ok && until.After(deadline.Add(-time.Second)) {
			g.held.Add(1)
			return &HeldBack{Service: g.Service, Until: until}
		}
		g.waited.Add(1)
		// The calls held together are released spread over as long again as they waited (at
		// most 1 s more), not at the same instant: released at once, every instance's calls
		// meet the service's next second of budget together, and most are throttled again.
		// With 100 users at once against 100 requests a second this took the 429s from
		// about 35 per user to 6, in the same wall time (docs/performance.md).
		t := time.NewTimer(wait + rand.N(min(wait, time.Second)+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// current returns the latest known "not before", refreshing the shared value in the
// background when the cached one is older than CacheFor.
func (g *Gate) current() time.Time {
	cacheFor := g.CacheFor
	if cacheFor <= 0 {
		cacheFor = DefaultCacheFor
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.Shared != nil && !g.reading && now.Sub(g.readAt) >= cacheFor {
		g.reading = true
		go g.refresh()
	}
	return g.notBefore
}

func (g *Gate) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), storeCall)
	defer cancel()
	at, err := g.Shared.NotBefore(ctx, g.Service)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reading = false
	g.readAt = g.now()
	if err != nil {
		return // the store is unreachable: this instance's own 429s still count
	}
	g.shared = at
	if at.After(g.notBefore) {
		g.notBefore = at
	}
}

// Observe records an answer: a 429, or a 503 with Retry-After, holds every call back until
// its Retry-After has passed, here at once and on the other instances through the store.
func (g *Gate) Observe(resp *http.Response) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return
	}
	wait, ok := retryAfter(resp.Header.Get("Retry-After"), g.now())
	if !ok {
		if resp.StatusCode != http.StatusTooManyRequests {
			return // a 503 without Retry-After is an outage, not throttling
		}
		wait = time.Second
	}
	g.Hold(g.now().Add(wait))
}

// Hold holds calls back until at, at most bounds.RetryAfter from now: the furthest a "not
// before" is ever written to the shared store, and so believed when read back.
func (g *Gate) Hold(at time.Time) {
	if limit := g.now().Add(bounds.RetryAfter); at.After(limit) {
		at = limit
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if at.After(g.notBefore) {
		g.notBefore = at
	}
	if g.Shared == nil || !at.After(g.shared.Add(writeSlack)) {
		return
	}
	if at.After(g.toWrite) {
		g.toWrite = at
	}
	if !g.writing {
		g.writing = true
		go g.write()
	}
}

// write sends the latest value to hold until to the store, one write at a time.
func (g *Gate) write() {
	for {
		g.mu.Lock()
		at := g.toWrite
		if !at.After(g.shared.Add(writeSlack)) {
			g.writing = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), storeCall)
		inForce, err := g.Shared.HoldUntil(ctx, g.Service, at)
		cancel()
		g.mu.Lock()
		if err != nil {
			g.writing = false
			g.mu.Unlock()
			return // the store is unreachable: the next 429 tries again
		}
		g.shared = inForce
		if inForce.After(g.notBefore) {
			g.notBefore = inForce
		}
		g.mu.Unlock()
	}
}

// Transport returns a RoundTripper that waits at the gate before each request and
// observes each answer. base nil means http.DefaultTransport.
func (g *Gate) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{gate: g, base: base}
}

type transport struct {
	gate *Gate
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.gate.Wait(req.Context()); err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if resp != nil {
		t.gate.Observe(resp)
	}
	return resp, err
}

// retryAfter reads Retry-After as seconds or an HTTP date, clamped to bounds.RetryAfter:
// a longer one still says "throttled", so it holds calls back, but never longer than the
// handler ever waits (a header of 999999999 seconds or a date in 2099 would otherwise hold
// every instance back for good).
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs != secs { // negative, NaN
			return 0, false
		}
		if secs > bounds.RetryAfter.Seconds() { // also +Inf, and more than a Duration holds
			return bounds.RetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return bounds.ClampRetryAfter(max(at.Sub(now), 0)), true
	}
	return 0, false
}

// HTTPClient returns a client whose requests pass the gate, for graph.Options.HTTPClient
// (which uses its Transport) and exchange.Options.HTTPClient. Redirects are handed back to
// the caller, as both clients expect; timeout is a backstop behind each call's deadline.
func (g *Gate) HTTPClient(timeout time.Duration) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	// Every step of every run calls the same host: keep enough idle connections to reuse
	// them under load (the default keeps 2 per host and opens a new one for the rest).
	base.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport:     g.Transport(base),
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
