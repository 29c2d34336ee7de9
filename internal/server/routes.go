package server

import "net/http"

type apiRoute struct {
	pattern string // "METHOD /api/path"
	handle  http.HandlerFunc
}

// apiRoutes is the whole public API surface, in one place. The host forwards these
// requests as is (enableForwardingHttpRequest); openapi.json describes exactly these.
func (s *Server) apiRoutes() []apiRoute {
	return []apiRoute{
		{"POST /api/remediations", s.handleStart},
		{"GET /api/remediations", s.handleList},
		{"GET /api/remediations/{runId}", s.handleGet},
		{"GET /api/remediations/{runId}/report", s.handleReport},
		{"POST /api/remediations/{runId}/restore-admin-roles", s.handleRestore},
		{"POST /api/steps/{step}", s.handleStep},
		{"GET /api/sweeps", s.handleSweeps},
		{"GET /api/health", s.handleHealth},
		{"GET /api/openapi.json", s.handleOpenAPI},
	}
}

// Patterns lists the API routes ("METHOD /api/path"), for documentation checks.
func Patterns() []string {
	var patterns []string
	for _, r := range (&Server{}).apiRoutes() {
		patterns = append(patterns, r.pattern)
	}
	return patterns
}

// routes builds the handler: the API routes, POST /{function} for the host's queue and
// timer invocations, and GET / for the host's readiness poll.
func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	for _, r := range s.apiRoutes() {
		api.Handle(r.pattern, s.limitBody(maxAPIBody, s.authenticate(r.handle)))
	}
	api.Handle("/api/", s.authenticate(s.handleNoRoute))
	s.api = s.recoverPanics(api)

	mux := http.NewServeMux()
	mux.Handle("/api/", s.api)
	mux.Handle("POST /{function}", s.limitBody(maxInvocationBody, http.HandlerFunc(s.handleInvocation)))
	mux.HandleFunc("GET /{$}", s.handleReady)
	return s.recoverPanics(mux)
}

// publicRoutes need no caller identity even under AUTH_MODE=easyauth.
var publicRoutes = map[string]bool{"/api/health": true, "/api/openapi.json": true}
