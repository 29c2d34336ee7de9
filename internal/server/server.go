// Package server is Tourniquet's HTTP surface: the /api routes the Functions host forwards,
// and the /{FunctionName} invocations it sends for queue and timer triggers.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/preflight"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/triage"
)

// Pinger checks that the run-record store answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server holds the dependencies of the handlers.
type Server struct {
	service  *remediation.Service
	store    Pinger
	authMode string
	log      *slog.Logger
	api      http.Handler // the /api routes, also served inside HTTP-trigger invocations
	health   healthCache
	syncRuns syncLimiter
	// preflight answers GET /api/preflight; nil: the route answers 503 (tests that do not
	// need it).
	preflight Preflighter
	// triage classifies the alerts of POST /api/triage/sentinel; nil: the built-in table.
	triage *triage.Table
}

// Preflighter runs the read-only preflight of GET /api/preflight (package preflight).
type Preflighter interface {
	Run(ctx context.Context) preflight.Report
	// Summary is the last preflight in a line, from its cache only ("" when none).
	Summary() string
}

// Option sets an optional dependency of the server.
type Option func(*Server)

// WithPreflight serves GET /api/preflight from p.
func WithPreflight(p Preflighter) Option { return func(s *Server) { s.preflight = p } }

// maxSyncRuns caps the sync runs one handler instance carries out at once (each holds a
// request open and calls Graph and Exchange in process); past it a caller gets 429 and
// Retry-After instead of a slow instance that throttles the identity for everyone.
const maxSyncRuns = 8

// syncRetryAfter is what a caller turned away by the cap is told to wait: about one sync run.
const syncRetryAfter = 10 * time.Second

// syncLimiter counts the sync runs in progress on this instance.
type syncLimiter struct {
	once  sync.Once
	slots chan struct{}
}

// acquire takes a slot if one is free; release gives it back.
func (l *syncLimiter) acquire() (release func(), ok bool) {
	l.once.Do(func() { l.slots = make(chan struct{}, maxSyncRuns) })
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, true
	default:
		return nil, false
	}
}

// healthTTL is how long /api/health reuses its last look at the store: the route is
// anonymous, so it must not let anyone turn requests into storage calls one for one.
const healthTTL = 5 * time.Second

// healthCache remembers the store's last answer to a ping for healthTTL. Callers that arrive
// while a ping is under way wait for it instead of sending their own.
type healthCache struct {
	mu      sync.Mutex
	checked time.Time
	err     error
	now     func() time.Time // for tests; time.Now otherwise
}

func (h *healthCache) check(ctx context.Context, store Pinger) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now
	if h.now != nil {
		now = h.now
	}
	if !h.checked.IsZero() && now().Sub(h.checked) < healthTTL {
		return h.err
	}
	// A caller that hangs up must not leave a cancelled ping cached as an outage.
	h.err = store.Ping(context.WithoutCancel(ctx))
	h.checked = now()
	return h.err
}

// New returns the handler's whole HTTP surface.
func New(service *remediation.Service, store Pinger, authMode string, log *slog.Logger, opts ...Option) http.Handler {
	s := &Server{service: service, store: store, authMode: authMode, log: log}
	for _, o := range opts {
		o(s)
	}
	return s.routes()
}

var _ Pinger = (*runs.Store)(nil)
