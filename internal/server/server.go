// Package server is Tourniquet's HTTP surface: the /api routes the Functions host forwards,
// and the /{FunctionName} invocations it sends for queue and timer triggers.
package server

import (
	"context"
	"log/slog"
	"net/http"

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
}

// New returns the handler's whole HTTP surface.
func New(service *remediation.Service, store Pinger, authMode string, log *slog.Logger) http.Handler {
	s := &Server{service: service, store: store, authMode: authMode, log: log}
	return s.routes()
}

var _ Pinger = (*runs.Store)(nil)
