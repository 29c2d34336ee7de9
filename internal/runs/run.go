// Package runs holds the run document (what a remediation changed and why) and its store in
// Azure Table Storage.
package runs

import (
	"bytes"
	"encoding/json"
	"time"
)

// Status is a run's status (contract section 1).
type Status string

const (
	Queued         Status = "queued"
	Running        Status = "running"
	Succeeded      Status = "succeeded"
	ActionRequired Status = "action_required"
	Failed         Status = "failed"
	Refused        Status = "refused"
	Planned        Status = "planned"
	// AwaitingApproval: the run waits for a second person (APPROVAL_MODE, contract 6.1); it
	// has changed nothing and its steps are pending. Rejected and Expired end such a run
	// without changing anything.
	AwaitingApproval Status = "awaiting_approval"
	Rejected         Status = "rejected"
	Expired          Status = "expired"
)

// StepStatus is a step's status (contract section 1).
type StepStatus string

const (
	StepPending        StepStatus = "pending"
	StepRunning        StepStatus = "running"
	StepSucceeded      StepStatus = "succeeded"
	StepNoChange       StepStatus = "no_change"
	StepActionRequired StepStatus = "action_required"
	StepFailed         StepStatus = "failed"
	StepSkipped        StepStatus = "skipped"
	StepPlanned        StepStatus = "planned"
)

// Final reports whether a step in this status will not run again in its run.
func (s StepStatus) Final() bool {
	switch s {
	case StepPending, StepRunning, "":
		return false
	}
	return true
}

// Secured reports whether the step left the account in a secured state, the condition for
// unblocking the sender. In a dry run, planned counts as secured.
func (s StepStatus) Secured(dryRun bool) bool {
	return s == StepSucceeded || s == StepNoChange || (dryRun && s == StepPlanned)
}

// UserRef names the account a run is for.
type UserRef struct {
	ID                    string `json:"id"`
	UserPrincipalName     string `json:"userPrincipalName"`
	Mail                  string `json:"mail,omitempty"`
	OnPremisesSyncEnabled bool   `json:"onPremisesSyncEnabled,omitempty"`
}

// Error is a failure shown in the run document: the service's code and a message a SOC
// analyst can act on.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Change is one thing a step changed (or, in a dry run, would change), with the state
// before it and the reasons it was changed.
type Change struct {
	Action  string   `json:"action"`
	Target  string   `json:"target"`
	Before  any      `json:"before,omitempty"`
	After   any      `json:"after,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	Restore any      `json:"restore,omitempty"` // what restore-admin-roles needs to undo it
	// Seal is an HMAC over Restore, the run id and the user id, under a key kept outside the
	// run-record store: a restore grants only what a seal vouches for, so a record written by
	// someone with table access alone grants nothing (docs/security.md).
	Seal string `json:"seal,omitempty"`
}

// Step is one step of a run.
type Step struct {
	Name       string     `json:"name"`
	Status     StepStatus `json:"status"`
	Attempts   int        `json:"attempts"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Message    string     `json:"message,omitempty"`
	Changes    []Change   `json:"changes"`
	Error      *Error     `json:"error,omitempty"`
	// Evidence is what the step read and was about to change, recorded before it acted, so
	// a record exists even when the action fails half-way or the process dies. It is
	// dropped once the step's own outcome (Changes) is recorded, and kept when the step
	// did not finish.
	Evidence []Change `json:"evidence,omitempty"`
	// Findings is what a read-only step (investigate) found; nil for the others.
	Findings *Findings `json:"findings,omitempty"`
	// DeferredUntil is set while a throttled step waits for its service's Retry-After
	// (contract 6.2): the step is pending and its message comes back at that time.
	DeferredUntil *time.Time `json:"deferredUntil,omitempty"`

	// Bookkeeping kept in the store, not shown.
	// Deferrals counts the step's deferrals; each deferral's message carries its number, so
	// a message from before the latest deferral is recognised as stale.
	Deferrals       int       `json:"-"`
	DeferredBy      string    `json:"-"` // queue message id of the delivery that deferred the step
	DeferredDequeue int       `json:"-"` // that delivery's DequeueCount
	Enqueued        bool      `json:"-"`
	LeaseUntil      time.Time `json:"-"`
	ClaimedBy       string    `json:"-"` // queue message id of the delivery running the step
	ClaimedDequeue  int       `json:"-"` // that delivery's DequeueCount
	etag            string
	spills          map[string]string // spill references of the version read (see layout.go)
	seal            string            // the final status's seal (integrity.go)
	tampered        bool              // read from a run that did not verify: never written over
}

// Restoration is the record of one restore call on a run. It is written with status
// "restoring" before anything is granted, so no grant is ever made without a record of it,
// then "succeeded" or "failed" with each item's result.
type Restoration struct {
	ID          string        `json:"id,omitempty"`
	At          time.Time     `json:"at"`
	RequestedBy string        `json:"requestedBy,omitempty"`
	Status      string        `json:"status"`
	Force       bool          `json:"force,omitempty"`  // restored before the account was secured
	Reason      string        `json:"reason,omitempty"` // why, required with force
	Steps       []string      `json:"steps,omitempty"`  // the steps asked for, all when empty
	Items       []RestoreItem `json:"items,omitempty"`
	Changes     []Change      `json:"changes"`
	Error       *Error        `json:"error,omitempty"`
	// RequesterID is the requester's principal id (easyauth), for the four-eyes rule.
	RequesterID string `json:"requesterId,omitempty"`
	// Approval is set on a restoration that grants a directory role or an Exchange role
	// group under APPROVAL_MODE admins or all: it waits (status awaiting_approval, nothing
	// granted) until a second person decides.
	Approval *Approval `json:"approval,omitempty"`
	// Seal vouches for the request of a restoration that waits for approval (steps,
	// force, reason, requester), so one planted in the store is never carried out.
	Seal string `json:"seal,omitempty"`
}

// RestoreItem is the result of undoing one recorded change.
type RestoreItem struct {
	Step   string `json:"step"`
	Target string `json:"target"`
	Result string `json:"result"` // restored | already_present | failed (pending while restoring; awaiting_approval, then rejected or expired, while it waits)
	Error  *Error `json:"error,omitempty"`
}

// Problem is the item's error in one line ("" when it has none).
func (it RestoreItem) Problem() string {
	if it.Error == nil {
		return ""
	}
	return it.Error.Code + ": " + it.Error.Message
}

// UnmarshalJSON also reads the error of an item recorded before errors carried a code (a
// plain string then).
func (it *RestoreItem) UnmarshalJSON(data []byte) error {
	type plain RestoreItem
	var v struct {
		plain
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*it = RestoreItem(v.plain)
	it.Error = nil
	switch raw := bytes.TrimSpace(v.Error); {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '"':
		var msg string
		if err := json.Unmarshal(raw, &msg); err != nil {
			return err
		}
		it.Error = &Error{Code: "restore_failed", Message: msg}
	default:
		if err := json.Unmarshal(raw, &it.Error); err != nil {
			return err
		}
	}
	return nil
}

// Secured reports whether this run secured the account: reset-password or block-sign-in
// succeeded, and revoke-sessions succeeded. A dry run secures nothing.
func (r *Run) Secured() bool {
	if r.DryRun {
		return false
	}
	ok := func(name string) bool { st := r.Step(name); return st != nil && st.Status == StepSucceeded }
	return (ok("reset-password") || ok("block-sign-in")) && ok("revoke-sessions")
}

// Run is the run document of contract section 2.
type Run struct {
	RunID          string          `json:"runId"`
	Status         Status          `json:"status"`
	User           UserRef         `json:"user"`
	DryRun         bool            `json:"dryRun"`
	Mode           string          `json:"mode,omitempty"`
	Reason         string          `json:"reason,omitempty"`
	RequestedBy    string          `json:"requestedBy,omitempty"`
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
	Options        json.RawMessage `json:"options,omitempty"`
	CreatedAt      time.Time       `json:"createdAt"`
	FinishedAt     *time.Time      `json:"finishedAt,omitempty"`
	Steps          []Step          `json:"steps"`
	Error          *Error          `json:"error,omitempty"`
	Restorations   []Restoration   `json:"restorations,omitempty"`
	// Approval is the four-eyes decision (contract 6.1); {"required": false, ...} for a run
	// that did not need one.
	Approval Approval `json:"approval"`
	// ParentRunID names the run whose eviction watch started this one (a re-containment).
	ParentRunID string `json:"parentRunId,omitempty"`
	// Watch is the eviction watch after the run's steps (contract 1.3); nil when none.
	Watch *Watch `json:"watch,omitempty"`
	// WatchBaseline is the watch's bookkeeping, kept in the store, not shown.
	WatchBaseline *WatchBaseline `json:"-"`
	// RequesterID is the caller principal's object id under easyauth: the approver must not
	// be the same principal. Kept in the store, not shown (requestedBy names the caller).
	RequesterID string `json:"-"`
	// Tampered says why the record does not verify against its seals (integrity.go): it was
	// changed outside the handler, which then acts on nothing of it (record_tampered).
	Tampered string `json:"recordTampered,omitempty"`

	etag         string
	spills       map[string]string // spill references of the header read (see layout.go)
	intentSeal   string            // integrity.go
	approvalSeal string
	watchSeal    string
}

// Step returns the named step of the run, or nil.
func (r *Run) Step(name string) *Step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

func (r *Run) stepIndex(name string) int {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return i
		}
	}
	return -1
}

// Outcome computes the run's final status from its steps, or "" while a step is not final.
// The first failure becomes the run's error.
func (r *Run) Outcome() (Status, *Error) {
	var (
		failed, actionRequired bool
		firstErr               *Error
	)
	for _, s := range r.Steps {
		if !s.Status.Final() {
			return "", nil
		}
		switch s.Status {
		case StepFailed:
			if !failed && s.Error != nil {
				firstErr = &Error{Code: s.Error.Code, Message: s.Name + ": " + s.Error.Message}
			}
			failed = true
		case StepActionRequired:
			actionRequired = true
		}
	}
	switch {
	case failed:
		if firstErr == nil {
			firstErr = &Error{Code: "step_failed", Message: "a step failed"}
		}
		return Failed, firstErr
	case r.DryRun:
		// A dry run is a plan: a step that would need a person (a synced user's password)
		// says so in its own status and message; the run is planned.
		return Planned, nil
	case actionRequired:
		return ActionRequired, nil
	}
	return Succeeded, nil
}

// SetETagFrom makes s's next update conditional on other's version of the same step (and
// lets it reuse or clean up the evidence parts that version names).
// A step of a run that did not verify stays unwritable.
func (s *Step) SetETagFrom(other *Step) {
	s.etag, s.spills = other.etag, other.spills
	s.tampered = s.tampered || other.tampered
}
