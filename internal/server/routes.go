package server

import "net/http"

type apiRoute struct {
	pattern string // "METHOD /api/path"
	role    string // app role the caller needs under AUTH_MODE=easyauth; "" for public routes
	handle  http.HandlerFunc
}

// apiRoutes is the whole public API surface, in one place. The host forwards these
// requests as is (enableForwardingHttpRequest); openapi.json describes exactly these.
func (s *Server) apiRoutes() []apiRoute {
	return []apiRoute{
		{"POST /api/remediations", RoleRemediate, s.handleStart},
		{"GET /api/remediations", RoleRead, s.handleList},
		{"GET /api/remediations/{runId}", RoleRead, s.handleGet},
		{"GET /api/remediations/{runId}/report", RoleRead, s.handleReport},
		{"POST /api/remediations/{runId}/restore-admin-roles", RoleRestore, s.handleRestoreAdminRoles},
		{"POST /api/remediations/{runId}/restore", RoleRestore, s.handleRestore},
		{"POST /api/remediations/{runId}/approve", RoleApprove, s.handleApprove},
		{"POST /api/remediations/{runId}/reject", RoleApprove, s.handleReject},
		{"POST /api/remediations/{runId}/watch/stop", RoleRemediate, s.handleStopWatch},
		{"GET /api/steps", RoleRead, s.handleSteps},
		{"POST /api/steps/{step}", RoleRemediate, s.handleStep},
		{"GET /api/sweeps", RoleRead, s.handleSweeps},
		{"GET /api/preflight", RoleRead, s.handlePreflight},
		// Reads only its body: which accounts of a Sentinel incident the playbook may act on.
		{"POST /api/triage/sentinel", RoleRead, s.handleTriageSentinel},
		{"GET /api/health", "", s.handleHealth},
		{"GET /api/openapi.json", "", s.handleOpenAPI},
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
		api.Handle(r.pattern, s.limitBody(maxAPIBody, s.authenticate(r.role, r.handle)))
	}
	// An unknown route still needs a caller identity: it answers 404 to callers only.
	api.Handle("/api/", s.authenticate(RoleRead, s.handleNoRoute))
	s.api = s.recoverPanics(api)

	mux := http.NewServeMux()
	mux.Handle("/api/", s.api)
	mux.Handle("POST /{function}", s.limitBody(maxInvocationBody, http.HandlerFunc(s.handleInvocation)))
	mux.HandleFunc("GET /{$}", s.handleReady)
	return s.recoverPanics(mux)
}

// Roles lists each route's app role ("" for the public ones), for documentation checks.
func Roles() map[string]string {
	out := map[string]string{}
	for _, r := range (&Server{}).apiRoutes() {
		out[r.pattern] = r.role
	}
	return out
}
