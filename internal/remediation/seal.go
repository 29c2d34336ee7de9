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

// sealChanges seals every change that a restore could undo, before it is recorded.
func (s *Service) sealChanges(runID, userID string, changes []runs.Change) {
	for i := range changes {
		if changes[i].Restore == nil {
			continue
		}
		seal, err := s.seal(runID, userID, changes[i].Restore)
		if err != nil {
			s.Log.Error("seal a restorable change", "runId", runID, "target", changes[i].Target, "err", err)
			continue // unsealed: a restore refuses it, which is the safe side
		}
		changes[i].Seal = seal
	}
}

// seal is HMAC-SHA256 over a domain label, the run id, the user id and the canonical JSON of
// the restore payload. Binding the run and the user means a sealed item cannot be copied
// into another run or pointed at another account.
func (s *Service) seal(runID, userID string, restore any) (string, error) {
	canon, err := canonicalJSON(restore)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, s.recordKey())
	fmt.Fprintf(mac, "tourniquet-restore-v1\n%s\n%s\n", runID, strings.ToLower(userID))
	mac.Write(canon)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// verifySeal reports whether c's seal vouches for its restore payload in this run, for
// this user.
func (s *Service) verifySeal(runID, userID string, c runs.Change) error {
	if c.Seal == "" {
		return fmt.Errorf("the record of this change carries no seal, so it cannot be trusted to grant anything (recorded before sealing existed, or written by hand)")
	}
	want, err := s.seal(runID, userID, c.Restore)
	if err != nil {
		return fmt.Errorf("the record of this change cannot be read: %v", err)
	}
	if !hmac.Equal([]byte(want), []byte(c.Seal)) {
		return fmt.Errorf("the record of this change does not match its seal: it was altered in the run-record store, or sealed under another TOURNIQUET_RECORD_KEY; nothing was granted")
	}
	return nil
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
