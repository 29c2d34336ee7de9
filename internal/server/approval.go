package server

import (
	"io"
	"net/http"
	"strings"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// decisionBody is the body of POST /api/remediations/{runId}/approve and /reject; an empty
// body decides without a reason.
type decisionBody struct {
	Reason string `json:"reason"`
	// RestorationID decides a restore that awaits approval instead of the run itself.
	RestorationID string `json:"restorationId,omitempty"`
}

func (s *Server) handleApprove(w http.ResponseWriter, r *http.Request) { s.decide(w, r, true) }
func (s *Server) handleReject(w http.ResponseWriter, r *http.Request)  { s.decide(w, r, false) }

// decide answers an approval with 202 and the run document (its steps now go through the
// queues, as after an async start), a rejection with 200 and the final run document.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, approve bool) {
	var body decisionBody
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, decodeJSON(r, &body)) // reports the size limit the same way
		return
	}
	if strings.TrimSpace(string(raw)) != "" {
		if err := decodeStrict(raw, &body); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if body.RestorationID != "" {
		// A restore that awaits approval: approval carries it out at once, so both
		// decisions answer 200 with its result.
		restored, err := s.service.DecideRestoration(r.Context(), remediation.DecideRestoreRequest{
			RunID: r.PathValue("runId"), RestorationID: body.RestorationID, Approve: approve, Reason: body.Reason, By: s.principal(r),
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, restored)
		return
	}
	run, err := s.service.Decide(r.Context(), remediation.DecideRequest{
		RunID: r.PathValue("runId"), Approve: approve, Reason: body.Reason, By: s.principal(r),
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/remediations/"+run.RunID)
	status := http.StatusOK
	if approve {
		status = http.StatusAccepted
	}
	writeJSON(w, status, run)
}

// principal is the caller as the four-eyes rule sees it: under easyauth the principal App
// Service authentication vouches for; under function keys the key that was used, by its
// fingerprint (contract section 6): the host checked the key before forwarding, so the
// fingerprint names a key the caller holds, and the run records its requester's the same
// way. A decision with the key that started the run is then refused same_principal. A
// request without a key (a local run with no host in front) names nobody and is not compared.
func (s *Server) principal(r *http.Request) remediation.Principal {
	p := remediation.Principal{Name: s.requestedBy(r)}
	switch {
	case s.authMode == "easyauth":
		p.ID = strings.TrimSpace(r.Header.Get("X-MS-CLIENT-PRINCIPAL-ID"))
		p.Checked = true
	case strings.HasPrefix(p.Name, "functionkey:"):
		p.Checked = true
	}
	return p
}

// handleStopWatch ends a run's eviction watch before its time ({"reason"}), recording who.
func (s *Server) handleStopWatch(w http.ResponseWriter, r *http.Request) {
	var body decisionBody
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, decodeJSON(r, &body))
		return
	}
	if strings.TrimSpace(string(raw)) != "" {
		if err := decodeStrict(raw, &body); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	run, err := s.service.StopWatch(r.Context(), r.PathValue("runId"), s.requestedBy(r), body.Reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

// startStatus is the status a start request answers: 202 for a run that waits for approval
// (whatever mode was asked: nothing ran), 200 for a finished sync run, else 202.
func startStatus(run *runs.Run, sync bool) int {
	if sync && !run.Waiting() {
		return http.StatusOK
	}
	return http.StatusAccepted
}
