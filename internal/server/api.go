package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/remediation"
)

// startBody is the body of POST /api/remediations (and of a remediations queue message).
type startBody struct {
	User           string          `json:"user"`
	Steps          []string        `json:"steps"`
	DryRun         bool            `json:"dryRun"`
	Mode           string          `json:"mode"`
	Reason         string          `json:"reason"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Options        json.RawMessage `json:"options"`
}

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	var body startBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	key := body.IdempotencyKey
	if header := strings.TrimSpace(r.Header.Get("Idempotency-Key")); header != "" {
		if key != "" && key != header {
			s.writeError(w, r, apperr.New(apperr.Invalid, "the Idempotency-Key header and the idempotencyKey field differ"))
			return
		}
		key = header
	}
	if body.Mode == "sync" {
		release, ok := s.syncRuns.acquire()
		if !ok {
			s.writeError(w, r, tooManySyncRuns())
			return
		}
		defer release()
	}
	started, err := s.service.Start(r.Context(), remediation.StartRequest{
		User: body.User, Steps: body.Steps, DryRun: body.DryRun, Mode: body.Mode, Reason: body.Reason,
		IdempotencyKey: key, Options: body.Options, RequestedBy: s.requestedBy(r), RequesterID: s.principal(r).ID,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/remediations/"+started.Run.RunID)
	if started.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	status := startStatus(started.Run, body.Mode == "sync" || (started.Replayed && started.Run.Mode == "sync"))
	writeJSON(w, status, started.Run)
}

func tooManySyncRuns() error {
	e := apperr.New(apperr.RateLimited, "%d sync runs are already in progress on this instance: try again shortly, or start the run with \"mode\":\"async\"", maxSyncRuns)
	e.RetryAfter = syncRetryAfter
	return e
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	run, err := s.service.Get(r.Context(), r.PathValue("runId"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user == "" {
		s.writeError(w, r, apperr.New(apperr.Invalid, "the user query parameter is required (UPN or object id)"))
		return
	}
	list, err := s.service.List(r.Context(), user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// restoreBody is the body of the restore routes; an empty body asks for a plain restore.
type restoreBody struct {
	Steps  []string `json:"steps,omitempty"`
	Force  bool     `json:"force"`
	Reason string   `json:"reason"`
}

func (s *Server) decodeRestore(r *http.Request) (restoreBody, error) {
	var body restoreBody
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return body, decodeJSON(r, &body) // reports the size limit the same way
	}
	if strings.TrimSpace(string(raw)) == "" {
		return body, nil
	}
	return body, decodeStrict(raw, &body)
}

// handleRestoreAdminRoles answers the run document with the new restoration, as it always
// has (the items are in run.restorations[-1].items).
func (s *Server) handleRestoreAdminRoles(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeRestore(r)
	if err == nil && len(body.Steps) > 0 {
		err = apperr.New(apperr.Invalid, "restore-admin-roles restores remove-admin-roles only; use /restore with steps")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	restored, err := s.service.RestoreAdminRoles(r.Context(), remediation.RestoreRequest{
		RunID: r.PathValue("runId"), Force: body.Force, Reason: body.Reason, RequestedBy: s.requestedBy(r), RequesterID: s.principal(r).ID,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, restoreStatus(restored), restored.Run)
}

func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeRestore(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	restored, err := s.service.Restore(r.Context(), remediation.RestoreRequest{
		RunID: r.PathValue("runId"), Steps: body.Steps, Force: body.Force, Reason: body.Reason, RequestedBy: s.requestedBy(r), RequesterID: s.principal(r).ID,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, restoreStatus(restored), restored)
}

// restoreStatus is 202 for a restore recorded awaiting approval (nothing granted yet: a
// second person approves it by its restorationId), else 200.
func restoreStatus(restored *remediation.Restored) int {
	if restored.Waiting() {
		return http.StatusAccepted
	}
	return http.StatusOK
}

// stepBody is the body of POST /api/steps/{step}.
type stepBody struct {
	User           string          `json:"user"`
	DryRun         bool            `json:"dryRun"`
	Reason         string          `json:"reason"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Options        json.RawMessage `json:"options"`
}

func (s *Server) handleStep(w http.ResponseWriter, r *http.Request) {
	name, ok := catalog.Parse(r.PathValue("step"))
	if !ok {
		s.writeError(w, r, apperr.New(apperr.Invalid, "unknown step %q; steps are %v", r.PathValue("step"), catalog.All))
		return
	}
	var body stepBody
	if err := decodeJSON(r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	key := body.IdempotencyKey
	if header := strings.TrimSpace(r.Header.Get("Idempotency-Key")); header != "" {
		key = header
	}
	release, ok := s.syncRuns.acquire()
	if !ok {
		s.writeError(w, r, tooManySyncRuns())
		return
	}
	defer release()
	started, err := s.service.Start(r.Context(), remediation.StartRequest{
		User: body.User, Steps: []string{string(name)}, DryRun: body.DryRun, Mode: "sync", Reason: body.Reason,
		IdempotencyKey: key, Options: body.Options, RequestedBy: s.requestedBy(r), RequesterID: s.principal(r).ID,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/remediations/"+started.Run.RunID)
	writeJSON(w, startStatus(started.Run, true), started.Run)
}

func (s *Server) handleSweeps(w http.ResponseWriter, r *http.Request) {
	list, err := s.service.Sweeps(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// stepEntry is one step of GET /api/steps (contract section 1.1).
type stepEntry struct {
	Name        catalog.Name   `json:"name"`
	Description string         `json:"description"`
	Default     bool           `json:"default"`
	Reversible  bool           `json:"reversible"`
	Impact      catalog.Impact `json:"impact"`
	DependsOn   []catalog.Name `json:"dependsOn"`
}

// handleSteps answers the step catalog, in run-document order.
func (s *Server) handleSteps(w http.ResponseWriter, r *http.Request) {
	out := make([]stepEntry, len(catalog.Steps))
	for i, st := range catalog.Steps {
		out[i] = stepEntry{Name: st.Name, Description: st.Description, Default: st.Default,
			Reversible: st.Reversible, Impact: st.Impact, DependsOn: st.Dependencies()}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if err := s.health.check(r.Context(), s.store); err != nil {
		s.log.Warn("health: run-record store unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "degraded", "store": "unreachable"})
		return
	}
	// Anonymous: counts and settings only, never an account's name or id (contract section 2).
	health := map[string]any{"status": "ok"}
	if s.service != nil {
		if reasons := s.service.Degraded(); len(reasons) > 0 {
			health["status"] = "degraded"
			health["reasons"] = reasons
		}
		// What PROTECTED_ACCOUNTS resolved to at the last resolution (start, then every 15
		// minutes when a check needs it): read from memory, never from Graph.
		if len(s.service.Config.Protected) > 0 {
			health["protectedAccounts"] = s.service.ProtectedCounts()
		}
	}
	writeJSON(w, http.StatusOK, health)
}

// handlePreflight answers what will work in this tenant and how to fix what will not. It
// only reads, is cached for minutes and bounded in time (package preflight).
func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	if s.preflight == nil {
		s.writeError(w, r, apperr.New(apperr.Unavailable, "the preflight is not configured in this handler"))
		return
	}
	writeJSON(w, http.StatusOK, s.preflight.Run(r.Context()))
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIJSON)
}

func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, apperr.New(apperr.NotFound, "no route %s %s", r.Method, r.URL.Path))
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
