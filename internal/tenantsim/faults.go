package tenantsim

import (
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// faultKey is what ThrottleNext and FailNext match against.
type faultKey struct {
	method, path, cmdlet string
	query                string // the decoded query string (ThrottleNextWhere)
}

func (k faultKey) matches(match string) bool {
	return strings.Contains(k.method+" "+k.path, match) || (k.cmdlet != "" && strings.Contains(k.cmdlet, match))
}

// matches reports whether the rule applies to the request.
func (r *faultRule) matches(k faultKey) bool {
	return k.matches(r.match) && (r.query == "" || strings.Contains(k.query, r.query))
}

type faultKind int

const (
	faultNone       faultKind = iota
	faultStatus               // an error answer (429 carries Retry-After)
	faultReset                // the connection is dropped without an answer
	faultDelay                // the request is held for Options.FaultDelay, then served
	faultLoseAnswer           // the request is carried out, then the connection dropped before the answer
)

type faultDecision struct {
	kind       faultKind
	status     int
	retryAfter string // "" = no Retry-After header
	message    string
}

// faultRule is one ThrottleNext/FailNext order.
type faultRule struct {
	remaining  int
	match      string
	status     int
	retryAfter string
	loseAnswer bool   // LoseAnswerNext
	query      string // ThrottleNextWhere: the decoded query string must contain it
}

// tokenBucket implements SetRateLimit: perSecond tokens refilled continuously, burst perSecond.
type tokenBucket struct {
	perSecond int
	tokens    float64
	last      time.Time
}

// take consumes a token, or reports how long until one is available.
func (b *tokenBucket) take(now time.Time) (ok bool, wait time.Duration) {
	if b.perSecond <= 0 {
		return true, 0
	}
	b.tokens = math.Min(float64(b.perSecond), b.tokens+now.Sub(b.last).Seconds()*float64(b.perSecond))
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / float64(b.perSecond) * float64(time.Second))
}

type faultInjector struct {
	mu    sync.Mutex
	rules []*faultRule
	// writesThrottledUntil: every write is answered 429 with writesRetryAfter until then
	// (ThrottleWritesFor).
	writesThrottledUntil time.Time
	writesRetryAfter     string
	rate                 float64
	rng                  *rand.Rand
	bucket               tokenBucket
	delay                time.Duration
}

func newFaultInjector(delay time.Duration) *faultInjector {
	return &faultInjector{delay: delay, rng: rand.New(rand.NewPCG(1, 1))}
}

// ThrottleNext makes the next n requests whose "METHOD path" or Exchange cmdlet name
// contains match answer 429 with Retry-After (whole seconds, rounded up; 0 gives "0").
// An empty match matches every request, token endpoint included.
func (s *Sim) ThrottleNext(n int, match string, retryAfter time.Duration) {
	secs := int(math.Ceil(retryAfter.Seconds()))
	s.faults.addRule(&faultRule{remaining: n, match: match, status: http.StatusTooManyRequests, retryAfter: strconv.Itoa(max(secs, 0))})
}

// ThrottleNextWhere is ThrottleNext for the requests whose decoded query string also
// contains query, e.g. one kind of a listing's $filter ("'nonInteractiveUser'").
func (s *Sim) ThrottleNextWhere(n int, match, query string, retryAfter time.Duration) {
	secs := int(math.Ceil(retryAfter.Seconds()))
	s.faults.addRule(&faultRule{remaining: n, match: match, query: query, status: http.StatusTooManyRequests, retryAfter: strconv.Itoa(max(secs, 0))})
}

// ThrottleWritesFor answers every write (a Graph request other than GET and $batch, an
// Exchange cmdlet other than Get-*) with 429 and Retry-After (whole seconds) for the next
// d, as a tenant under a sustained throttle would; reads are served. Explicit
// ThrottleNext/FailNext orders still come first.
func (s *Sim) ThrottleWritesFor(d, retryAfter time.Duration) {
	f := s.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writesThrottledUntil = time.Now().Add(d)
	f.writesRetryAfter = strconv.Itoa(max(int(math.Ceil(retryAfter.Seconds())), 0))
}

func (k faultKey) write() bool {
	if k.cmdlet != "" {
		return !strings.HasPrefix(k.cmdlet, "Get-")
	}
	return k.method != http.MethodGet && !strings.HasSuffix(k.path, "/$batch")
}

// FailNext makes the next n matching requests (as ThrottleNext) answer status with the
// service's error envelope and no Retry-After.
func (s *Sim) FailNext(n int, match string, status int) {
	s.faults.addRule(&faultRule{remaining: n, match: match, status: status})
}

// HoldNext makes the next n matching requests (as ThrottleNext) hang for
// Options.FaultDelay before they are served, unless the client gives up first.
func (s *Sim) HoldNext(n int, match string) {
	s.faults.addRule(&faultRule{remaining: n, match: match})
}

// LoseAnswerNext makes the next n matching requests (as ThrottleNext) be carried out and
// their answers lost: the connection is dropped where the answer would have been written,
// as when Graph or Exchange made a change and the answer never arrived (a gateway timeout,
// a connection cut). The request log records the status the service gave. Random faults
// (SetFaultRate) never lose an answer: a write whose answer is lost may be applied twice
// by a caller that cannot tell, which those tests count as an error.
func (s *Sim) LoseAnswerNext(n int, match string) {
	s.faults.addRule(&faultRule{remaining: n, match: match, loseAnswer: true})
}

// SetFaultRate makes a random share (0..1) of Graph and Exchange requests fail, drawn from
// a generator seeded with seed: 429 (Retry-After 1), 500, 503 (Retry-After 1), a dropped
// connection, or a hang of Options.FaultDelay before the request is served. Items of a
// $batch only get the status faults. Rate 0 turns it off.
func (s *Sim) SetFaultRate(rate float64, seed int64) {
	f := s.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rate = rate
	f.rng = rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

// SetRateLimit caps Graph and Exchange requests (batch items count one each) to perSecond
// with a burst of perSecond; beyond it they answer 429 with Retry-After. 0 turns it off.
func (s *Sim) SetRateLimit(perSecond int) {
	f := s.faults
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bucket = tokenBucket{perSecond: perSecond, tokens: float64(perSecond), last: time.Now()}
}

func (f *faultInjector) addRule(r *faultRule) {
	if r.remaining <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, r)
}

// decide picks the fault for one request. Explicit rules come first, then the rate limit,
// then the random fault rate. randomFaults is false for the token endpoint; connFaults
// is false for $batch items, which cannot lose a connection of their own.
func (f *faultInjector) decide(key faultKey, randomFaults, connFaults bool) faultDecision {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		if !r.matches(key) {
			continue
		}
		r.remaining--
		if r.remaining <= 0 {
			f.rules = append(f.rules[:i], f.rules[i+1:]...)
		}
		if r.loseAnswer {
			return faultDecision{kind: faultLoseAnswer}
		}
		if r.status == 0 {
			return faultDecision{kind: faultDelay} // HoldNext
		}
		return faultDecision{kind: faultStatus, status: r.status, retryAfter: r.retryAfter, message: "Injected fault."}
	}
	if !randomFaults {
		return faultDecision{}
	}
	if key.write() && time.Now().Before(f.writesThrottledUntil) {
		return faultDecision{kind: faultStatus, status: http.StatusTooManyRequests, retryAfter: f.writesRetryAfter,
			message: "Writes of this tenant are throttled."}
	}
	if ok, wait := f.bucket.take(time.Now()); !ok {
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		return faultDecision{kind: faultStatus, status: http.StatusTooManyRequests, retryAfter: strconv.Itoa(secs),
			message: "Rate limit of the tenant simulator exceeded."}
	}
	if f.rate <= 0 || f.rng.Float64() >= f.rate {
		return faultDecision{}
	}
	kinds := 3
	if connFaults {
		kinds = 5
	}
	switch f.rng.IntN(kinds) {
	case 0:
		return faultDecision{kind: faultStatus, status: http.StatusTooManyRequests, retryAfter: "1", message: "Random fault."}
	case 1:
		return faultDecision{kind: faultStatus, status: http.StatusInternalServerError, message: "Random fault."}
	case 2:
		return faultDecision{kind: faultStatus, status: http.StatusServiceUnavailable, retryAfter: "1", message: "Random fault."}
	case 3:
		return faultDecision{kind: faultReset}
	default:
		return faultDecision{kind: faultDelay}
	}
}

// applyFault answers the request with a fault when one is due and reports whether it did.
// A delay fault holds the request and then lets it through (returns false) unless the
// client gave up meanwhile.
func (s *Sim) applyFault(w http.ResponseWriter, r *http.Request, key faultKey, service string, randomFaults bool) bool {
	d := s.faults.decide(key, randomFaults, true)
	switch d.kind {
	case faultNone:
		return false
	case faultDelay:
		return !sleepContext(r.Context(), s.faults.delay)
	case faultLoseAnswer:
		if sw, ok := w.(*statusWriter); ok {
			sw.loseAnswer = true // served; serveAPI drops the connection instead of answering
		}
		return false
	case faultReset:
		resetConnection(w)
		return true
	}
	if d.retryAfter != "" {
		w.Header().Set("Retry-After", d.retryAfter)
	}
	switch service {
	case ServiceExchange:
		writeExchangeError(w, exoFault(d.status, d.message))
	case ServiceIdentity:
		identityError(w, d.status, "service_unavailable", d.message)
	default:
		writeGraphError(w, graphFault(d.status, d.message), r.Header)
	}
	return true
}

// resetConnection drops the connection with a TCP reset. A writer that cannot be
// hijacked (an httptest.ResponseRecorder) gets a 503 instead.
func resetConnection(w http.ResponseWriter) {
	h, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection reset (simulated)", http.StatusServiceUnavailable)
		return
	}
	conn, _, err := h.Hijack()
	if err != nil {
		http.Error(w, "connection reset (simulated)", http.StatusServiceUnavailable)
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // close with RST rather than FIN
	}
	_ = conn.Close()
}
