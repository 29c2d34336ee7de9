package runs

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Record integrity (contract section 6, "Records").
//
// Anyone who can write the storage account (a storage key, a data-plane role, a pipeline)
// holds less than the handler's managed identity, and must not be able to borrow it: flip a
// dry run into a real one, send a run that waits for approval on its way, or forge the
// "succeeded" steps that open unblock-sender and restore. So the store seals, with an HMAC
// under TOURNIQUET_RECORD_KEY (kept outside the storage account), what the handler acts on:
//
//   - the run's intent, once, when the run is created: run id, user id and UPN, steps, dry
//     run, options (canonical JSON), creation time, whether approval is required, and who
//     asked (requestedBy, the requester's principal id, and the watched run a re-containment
//     comes from);
//   - the approval decision, when it is written: decision, who, when;
//   - each step's final status (with a read-only step's findings), when it is written;
//   - the eviction watch and its bookkeeping, whenever the header is written.
//
// Every read verifies them. A run that does not verify carries Tampered (why), every step
// of it is marked too, and the store refuses to write over it (ErrTampered): a forged
// record can neither be acted on nor laundered by a later write that would seal it.

// ErrTampered reports a write over a record that did not verify when it was read: it was
// changed outside the handler, and the handler acts on nothing of it.
var ErrTampered = errors.New("runs: record changed outside the handler")

// recordKeyBytes is the least length of a record key (TOURNIQUET_RECORD_KEY).
const recordKeyBytes = 32

// processKey is the record key of a process started without TOURNIQUET_RECORD_KEY: shared by
// every store of the process (so two stores over the same tables agree), and lost with it.
var processKey = sync.OnceValue(func() []byte {
	k := make([]byte, recordKeyBytes)
	_, _ = rand.Read(k)
	return k
})

// SetRecordKey sets the key that seals and verifies run records (TOURNIQUET_RECORD_KEY).
// A store whose key is never set uses a random key of this process: its records then verify
// only within it. Call it before the store is used.
func (s *Store) SetRecordKey(key []byte) {
	if len(key) < recordKeyBytes {
		panic("runs.SetRecordKey: a record key has at least 32 bytes")
	}
	// A key of its own for records, derived from the setting: the same setting also seals
	// restore payloads (remediation), and one MAC must never be mistaken for the other.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("tourniquet-records-v1"))
	s.recordKey = mac.Sum(nil)
}

func (s *Store) sealKey() []byte {
	if s.recordKey == nil {
		mac := hmac.New(sha256.New, processKey())
		mac.Write([]byte("tourniquet-records-v1"))
		return mac.Sum(nil)
	}
	return s.recordKey
}

// sealer writes length-prefixed fields into an HMAC, so no two field lists collide.
type sealer struct{ h hash.Hash }

func (s *Store) newSealer(domain string) sealer {
	sl := sealer{hmac.New(sha256.New, s.sealKey())}
	sl.field(domain)
	return sl
}

func (sl sealer) field(v string) {
	sl.h.Write([]byte(strconv.Itoa(len(v))))
	sl.h.Write([]byte{':'})
	sl.h.Write([]byte(v))
}

func (sl sealer) sum() string { return base64.RawURLEncoding.EncodeToString(sl.h.Sum(nil)) }

func sealTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// intentSeal seals what a run is for. Fields that legitimately change while the run goes
// on (status, mode, step progress, restorations) are not part of it.
func (s *Store) intentSeal(r *Run) (string, error) {
	opts := ""
	if len(bytes.TrimSpace(r.Options)) > 0 {
		if opts = canonicalValue(r.Options); opts == "" {
			return "", errors.New("runs: options are not JSON")
		}
	}
	sl := s.newSealer("run-intent")
	sl.field(r.RunID)
	sl.field(strings.ToLower(r.User.ID))
	sl.field(strings.ToLower(r.User.UserPrincipalName))
	for _, st := range r.Steps {
		sl.field(st.Name)
	}
	sl.field("|")
	sl.field(strconv.FormatBool(r.DryRun))
	sl.field(opts)
	sl.field(sealTime(&r.CreatedAt))
	sl.field(strconv.FormatBool(r.Approval.Required))
	sl.field(r.RequestedBy)
	sl.field(r.RequesterID)
	sl.field(r.ParentRunID)
	return sl.sum(), nil
}

// approvalSeal seals a decision on a run that needed one.
func (s *Store) approvalSeal(runID string, a Approval) string {
	sl := s.newSealer("run-approval")
	sl.field(runID)
	sl.field(a.Decision)
	sl.field(a.DecidedBy)
	sl.field(sealTime(a.DecidedAt))
	return sl.sum()
}

// stepSeal seals a step's final status, and what a read-only step found with it (the
// eviction watch acts on the investigation's indicators).
func (s *Store) stepSeal(runID string, st *Step) string {
	sl := s.newSealer("step-final")
	sl.field(runID)
	sl.field(st.Name)
	sl.field(string(st.Status))
	sl.field(canonicalValue(st.Findings))
	return sl.sum()
}

// watchSeal seals a run's eviction watch and its bookkeeping: the watch decides when to stop
// and what counts as the attacker's return from them.
func (s *Store) watchSeal(r *Run) string {
	sl := s.newSealer("run-watch")
	sl.field(r.RunID)
	sl.field(canonicalValue(r.Watch))
	sl.field(canonicalValue(r.WatchBaseline))
	return sl.sum()
}

// canonicalValue renders v as JSON with object keys sorted and nulls, empty lists and empty
// objects left out, so a value sealed as written verifies as read back (a reader may turn a
// missing list into an empty one).
func canonicalValue(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if dec.Decode(&generic) != nil {
		return ""
	}
	out, _ := json.Marshal(pruneEmpty(generic))
	return string(out)
}

func pruneEmpty(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e = pruneEmpty(e); e == nil {
				delete(t, k)
			} else {
				t[k] = e
			}
		}
		if len(t) == 0 {
			return nil
		}
		return t
	case []any:
		if len(t) == 0 {
			return nil
		}
		for i := range t {
			t[i] = pruneEmpty(t[i])
		}
		return t
	}
	return v
}

// verify checks a run read from the store against its seals and reports what does not hold
// ("" when everything does). It also marks the run and its steps, so no write goes over them.
func (s *Store) verify(r *Run) string {
	why := s.check(r)
	if why != "" {
		r.Tampered = why
		for i := range r.Steps {
			r.Steps[i].tampered = true
		}
	}
	return why
}

func (s *Store) check(r *Run) string {
	if r.intentSeal == "" {
		return "the run record carries no seal: it was not written by this handler (or before records were sealed)"
	}
	want, err := s.intentSeal(r)
	if err != nil || !hmac.Equal([]byte(want), []byte(r.intentSeal)) {
		return "the run's user, steps, dry run, options, approval requirement or requester differ from what the handler recorded (or the record was sealed under another TOURNIQUET_RECORD_KEY)"
	}
	a := r.Approval
	if a.Decision != "" && !hmac.Equal([]byte(s.approvalSeal(r.RunID, a)), []byte(r.approvalSeal)) {
		return "the approval decision was not recorded by the handler"
	}
	if (r.Watch != nil || r.WatchBaseline != nil || r.watchSeal != "") && !hmac.Equal([]byte(s.watchSeal(r)), []byte(r.watchSeal)) {
		return "the run's eviction watch was not recorded by the handler"
	}
	// The header's status is not sealed (it moves on), but a run that needed approval and did
	// not get it can only be waiting, refused, rejected or expired.
	if a.Required && a.Decision != Approved {
		switch r.Status {
		case AwaitingApproval, Refused, Rejected, Expired:
		default:
			return fmt.Sprintf("the run needs approval, was not approved, and its status says %s", r.Status)
		}
	}
	for i := range r.Steps {
		st := &r.Steps[i]
		if st.Status.Final() && !hmac.Equal([]byte(s.stepSeal(r.RunID, st)), []byte(st.seal)) {
			return fmt.Sprintf("step %s says %s, which the handler did not record", st.Name, st.Status)
		}
	}
	return ""
}
