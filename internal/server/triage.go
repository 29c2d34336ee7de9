package server

import (
	"errors"
	"io"
	"net/http"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/strictjson"
	"github.com/tourniquet/tourniquet/internal/triage"
)

// WithTriageTable answers POST /api/triage/sentinel from t (the built-in alert table plus
// the operator's TRIAGE_TRUSTED_ALERTS); without it, the built-in table alone.
func WithTriageTable(t *triage.Table) Option { return func(s *Server) { s.triage = t } }

// handleTriageSentinel answers, for each account of a Sentinel incident (the object of the
// incident trigger), whether the playbook may remediate it: remediate, dry_run or skip, and
// why. It reads only the body: no tenant call, no run, no record.
func (s *Server) handleTriageSentinel(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeError(w, r, apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", tooLarge.Limit))
			return
		}
		s.writeError(w, r, apperr.New(apperr.Invalid, "could not read the request body"))
		return
	}
	// The incident's fields are Microsoft's, so unknown names are fine; a name twice, or two
	// names that differ only in letter case ("Alerts" and "alerts"), are refused as
	// everywhere else: the answer must not depend on which of the two a reader picks.
	if err := strictjson.Check(body, nil); err != nil {
		s.writeError(w, r, apperr.New(apperr.Invalid, "invalid JSON body: %s", cleanJSONError(err)))
		return
	}
	table := s.triage
	if table == nil {
		table = defaultTriageTable
	}
	res, err := triage.Sentinel(body, table)
	if err != nil {
		s.writeError(w, r, apperr.New(apperr.Invalid, "%s", cleanJSONError(err)))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

var defaultTriageTable, _ = triage.NewTable(nil)
