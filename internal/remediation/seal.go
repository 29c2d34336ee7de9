package remediation

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// RecordKeyBytes is the least length of a record key (TOURNIQUET_RECORD_KEY).
const RecordKeyBytes = 32

// NewRecordKey returns a random record key, for tests, the demo, and a handler started
// without TOURNIQUET_RECORD_KEY (whose seals then hold only in that process).
func NewRecordKey() []byte {
	k := make([]byte, RecordKeyBytes)
	_, _ = rand.Read(k)
	return k
}

// recordKey returns the key that seals restorable changes. A Service built without one
// (tests) gets a random key of its own once.
func (s *Service) recordKey() []byte {
	s.keyOnce.Do(func() {
		if len(s.Config.RecordKey) == 0 {
			s.Config.RecordKey = NewRecordKey()
		}
	})
	return s.Config.RecordKey
}

// sealChanges seals every change of step that a restore could undo, before it is recorded.
// A dry run's plans are not sealed: nothing was removed, so nothing may be granted back.
func (s *Service) sealChanges(run *runs.Run, step string, changes []runs.Change) {
	for i := range changes {
		changes[i].Seal = ""
		if changes[i].Restore == nil || run.DryRun {
			continue
		}
		s.sealOne(run, step, &changes[i])
	}
}

// sealEvidence seals every item of a step's evidence, restorable or not, when it is recorded
// (before the step acts): a later delivery carries over only items whose seal verifies, so
// evidence planted in the run-record store is never recorded as a change that was made,
// nor sealed as restorable with the real key.
func (s *Service) sealEvidence(run *runs.Run, step string, evidence []runs.Change) {
	for i := range evidence {
		evidence[i].Seal = ""
		if !run.DryRun {
			s.sealOne(run, step, &evidence[i])
		}
	}
}

func (s *Service) sealOne(run *runs.Run, step string, c *runs.Change) {
	seal, err := s.seal(run.RunID, run.User.ID, step, *c)
	if err != nil {
		s.Log.Error("seal a change", "runId", run.RunID, "step", step, "target", c.Target, "err", err)
		return // unsealed: a restore refuses it and no later delivery carries it over
	}
	c.Seal = seal
}

// seal is HMAC-SHA256 over a domain label, the run id, the user id, the step, the change's
// action and target, and the canonical JSON of its restore payload. Binding the run, the
// user and the step means a sealed item cannot be copied into another run, pointed at
// another account, or moved to a step whose restore grants something else.
func (s *Service) seal(runID, userID, step string, c runs.Change) (string, error) {
	canon, err := canonicalJSON(c.Restore)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, s.recordKey())
	for _, f := range []string{"tourniquet-change-v2", runID, strings.ToLower(userID), step, c.Action, c.Target} {
		fmt.Fprintf(mac, "%d:%s\n", len(f), f)
	}
	mac.Write(canon)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// verifySeal reports whether c's seal vouches for it as a change of step in this run, for
// this user.
func (s *Service) verifySeal(runID, userID, step string, c runs.Change) error {
	if c.Seal == "" {
		return fmt.Errorf("the record of this change carries no seal, so it cannot be trusted to grant anything (a dry run's plan, recorded before sealing existed, or written by hand)")
	}
	want, err := s.seal(runID, userID, step, c)
	if err != nil {
		return fmt.Errorf("the record of this change cannot be read: %v", err)
	}
	if !hmac.Equal([]byte(want), []byte(c.Seal)) {
		return fmt.Errorf("the record of this change does not match its seal: it was altered in the run-record store, or sealed under another TOURNIQUET_RECORD_KEY; nothing was granted")
	}
	return nil
}

// verifiedEvidence keeps the items of an earlier delivery's evidence whose seal verifies;
// the others were not written by the handler and are dropped, with an error logged.
func (s *Service) verifiedEvidence(run *runs.Run, step string, evidence []runs.Change) []runs.Change {
	var out []runs.Change
	for _, c := range evidence {
		if err := s.verifySeal(run.RunID, run.User.ID, step, c); err != nil {
			s.Log.Error("record_tampered: evidence the handler did not write is ignored", logevent.Attr(logevent.RecordTampered), "runId", run.RunID, "step", step, "action", c.Action, "target", c.Target, "err", err)
			continue
		}
		out = append(out, c)
	}
	return out
}

// canonicalJSON renders v with object keys sorted and numbers as written, so a payload
// sealed as a Go struct verifies after a round trip through the store as a map.
func canonicalJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic)
}
