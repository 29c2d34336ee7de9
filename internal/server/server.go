// Package server is Tourniquet's HTTP surface: the /api routes the Functions host forwards,
// and the /{FunctionName} invocations it sends for queue and timer triggers.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
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
func New(service *remediation.Service, store Pinger, authMode string, log *slog.Logger) http.Handler {
	s := &Server{service: service, store: store, authMode: authMode, log: log}
	return s.routes()
}

var _ Pinger = (*runs.Store)(nil)
