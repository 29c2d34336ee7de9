package runs

import (
	"encoding/json"
	"time"
)

// Decisions recorded in Approval.Decision.
const (
	Approved         = "approved"
	DecisionRejected = "rejected"
	DecisionExpired  = "expired"
)

// Approval is the four-eyes record of a run (contract 6.1). The five fields of the contract
// are always present in the run document, null until they have a value, so a reader can
// test them the same way before and after the decision.
type Approval struct {
	Required  bool       `json:"required"`
	DecidedBy string     `json:"decidedBy"` // the approver (easyauth: principal name, else id; function keys: key fingerprint)
	DecidedAt *time.Time `json:"decidedAt"`
	Decision  string     `json:"decision"` // approved | rejected | expired
	Reason    string     `json:"reason"`   // the decider's reason (for expired: why)
	// Why says what made the run wait (the roles the user holds, or APPROVAL_MODE=all).
	Why string `json:"why,omitempty"`
	// ExpiresAt is when an undecided run ends expired (creation + APPROVAL_TIMEOUT).
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// MarshalJSON writes the contract's fields as null while they have no value.
func (a Approval) MarshalJSON() ([]byte, error) {
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return json.Marshal(struct {
		Required  bool       `json:"required"`
		DecidedBy *string    `json:"decidedBy"`
		DecidedAt *time.Time `json:"decidedAt"`
		Decision  *string    `json:"decision"`
		Reason    *string    `json:"reason"`
		Why       string     `json:"why,omitempty"`
		ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	}{a.Required, str(a.DecidedBy), a.DecidedAt, str(a.Decision), str(a.Reason), a.Why, a.ExpiresAt})
}

// Waiting reports whether the run waits for a decision.
func (r *Run) Waiting() bool { return r.Status == AwaitingApproval }

// Halted reports whether the run must not act: it waits for approval, or was rejected or
// expired without approval. No step of such a run is claimed, whatever message arrives.
func (r *Run) Halted() bool {
	switch r.Status {
	case AwaitingApproval, Rejected, Expired:
		return true
	}
	return false
}
