// Package tenantsim is an in-process Microsoft 365 tenant that speaks Microsoft Graph v1.0,
// the Exchange Online admin REST InvokeCommand endpoint and the App Service managed
// identity token endpoint, in the shapes listed in docs/wire-formats.md. Tests and
// `make demo` drive it with the real SDK clients, so it follows the wire formats closely;
// docs/simulator-fidelity.md lists where it may differ from the real services.
//
// It is plain net/http and encoding/json on purpose: no SDK import, so it compiles fast.
package tenantsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	defaultTenantID   = "00000000-0000-0000-0000-0000000000aa"
	defaultPageSize   = 2
	defaultFaultDelay = 45 * time.Second

	graphPrefix = "/v1.0"
	// graphBetaPrefix serves the few beta endpoints Tourniquet reads (auditLogs/signIns).
	graphBetaPrefix = "/beta"
	exchangePrefix  = "/adminapi/beta"
	identityPath    = "/msi/token"
)

// Options configures a Sim. Zero values take the documented defaults.
type Options struct {
	TenantID string        // default "00000000-0000-0000-0000-0000000000aa"
	PageSize int           // items per page of every collection, default 2
	Latency  time.Duration // added to every Graph/Exchange request (benchmarks)
	// FaultDelay is how long a request chosen by SetFaultRate for the "hang" fault is
	// held before it is served (default 45s: longer than the 30s per-request timeout of
	// internal/exchange, so a client with a sane timeout gives up first).
	FaultDelay time.Duration
	Logf       func(format string, args ...any) // optional; never receives bodies or tokens
}

// Sim is the simulator: one mutex-protected tenant behind an http.Handler.
type Sim struct {
	opts           Options
	identityHeader string

	mu     sync.Mutex // guards tenant and roles
	tenant *tenant
	roles  map[string][]string // app roles of the identity's tokens, by service; nil: the defaults
	// noExchangeRBAC: the identity holds no Exchange role, so every cmdlet answers 403.
	noExchangeRBAC bool
	// omitAssignable: memberOf answers leave isAssignableToRole out (SetOmitAssignableToRole).
	omitAssignable bool

	faults *faultInjector
	log    requestLog

	serverMu sync.Mutex
	server   *http.Server
	baseURL  string
}

// New returns a simulator with the built-in role definitions seeded and nothing else.
func New(opts Options) *Sim {
	if opts.TenantID == "" {
		opts.TenantID = defaultTenantID
	}
	if opts.PageSize <= 0 {
		opts.PageSize = defaultPageSize
	}
	if opts.FaultDelay <= 0 {
		opts.FaultDelay = defaultFaultDelay
	}
	s := &Sim{
		opts:           opts,
		identityHeader: randomHex(16),
		tenant:         newTenant(),
		faults:         newFaultInjector(opts.FaultDelay),
	}
	for _, d := range builtInRoles {
		d.IsBuiltIn, d.TemplateID = true, d.ID
		s.AddRoleDefinition(d)
	}
	return s
}

// Start listens on 127.0.0.1 on a free port and serves in the background.
func (s *Sim) Start() (baseURL string, err error) {
	return s.Listen("127.0.0.1:0")
}

// Listen serves on addr in the background and returns the base URL ("http://host:port").
func (s *Sim) Listen(addr string) (baseURL string, err error) {
	s.serverMu.Lock()
	defer s.serverMu.Unlock()
	if s.server != nil {
		return "", errors.New("tenantsim.Listen: already serving")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("tenantsim.Listen: %w", err)
	}
	// The goroutine gets its own reference: Close may clear s.server before it runs.
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.server = srv
	s.baseURL = "http://" + ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("tenantsim: serve: %v", err)
		}
	}()
	return s.baseURL, nil
}

// Close stops the server and drops open connections (requests held by a delay fault end).
func (s *Sim) Close() {
	s.serverMu.Lock()
	defer s.serverMu.Unlock()
	if s.server != nil {
		_ = s.server.Close() // the only error is from closing an already closed listener
		s.server = nil
	}
}

// BaseURL is "http://127.0.0.1:port" once started, else "".
func (s *Sim) BaseURL() string {
	s.serverMu.Lock()
	defer s.serverMu.Unlock()
	return s.baseURL
}

// GraphURL is the Graph root to give the SDK (base + "/v1.0").
func (s *Sim) GraphURL() string { return s.BaseURL() + graphPrefix }

// ExchangeURL is the Exchange admin REST root (base + "/adminapi/beta").
func (s *Sim) ExchangeURL() string { return s.BaseURL() + exchangePrefix }

// IdentityEndpoint is the value for IDENTITY_ENDPOINT.
func (s *Sim) IdentityEndpoint() string { return s.BaseURL() + identityPath }

// IdentityHeader is the secret for IDENTITY_HEADER that the token endpoint demands.
func (s *Sim) IdentityHeader() string { return s.identityHeader }

// TenantID is the tenant's id (the Exchange path segment).
func (s *Sim) TenantID() string { return s.opts.TenantID }

// ServeHTTP is the whole simulator: token endpoint, Graph and Exchange.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == identityPath:
		s.serveIdentity(w, r)
	case p == graphPrefix || strings.HasPrefix(p, graphPrefix+"/"), strings.HasPrefix(p, graphBetaPrefix+"/"):
		s.serveAPI(w, r, ServiceGraph)
	case strings.HasPrefix(p, exchangePrefix+"/"):
		s.serveAPI(w, r, ServiceExchange)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
			"code": "NotFound", "message": "The tenant simulator serves /v1.0, /beta (auditLogs/signIns), /adminapi/beta and /msi/token only.",
		}})
	}
}

func (s *Sim) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// sleepContext waits d or until ctx ends; it reports whether the full wait happened.
func sleepContext(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// randomHex returns n random bytes hex-encoded. crypto/rand.Read never fails on the
// platforms Go supports (it aborts the process instead).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newGUID returns a random version-4 UUID string.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
