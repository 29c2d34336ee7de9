package remediation

import (
	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// tampered logs, as an error an alert rule can fire on, a run record that does not verify
// against the seals the handler wrote (runs/integrity.go), and returns the refusal. Such a
// record was changed by someone with write access to the storage account; the handler acts
// on nothing of it: no step claims it, no advance or recovery sends it on, no decision is
// taken on it, and nothing is restored from it (contract section 6, "Records").
func (s *Service) tampered(run *runs.Run, where string) *apperr.Error {
	s.Log.Error("record_tampered: a run record was changed outside the handler; nothing of it is acted on",
		logevent.Attr(logevent.RecordTampered), "runId", run.RunID, "userId", run.User.ID, "where", where, "why", run.Tampered)
	return apperr.New(apperr.RecordTampered, "run %s was changed outside Tourniquet (%s): nothing of it is acted on, approved or restored", run.RunID, run.Tampered)
}
