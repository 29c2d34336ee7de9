// Package apperr holds Tourniquet's coded application errors. Packages return them; the HTTP
// layer maps a code to a status and shows the caller only safe messages.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error by what the caller can do about it.
type Code string

const (
	Invalid      Code = "invalid_request"        // bad JSON, identifier or step: 400
	TooLarge     Code = "request_too_large"      // body over the limit: 413
	Unauthorized Code = "unauthorized"           // no caller identity: 401
	NotFound     Code = "not_found"              // unknown run or user: 404
	Protected    Code = "protected_account"      // break-glass or other protected account: 403
	RateLimited  Code = "rate_limited"           // MAX_REMEDIATIONS_PER_HOUR reached: 429
	Unavailable  Code = "store_unavailable"      // run-record store unreachable: 503
	Conflict     Code = "conflict"               // e.g. restore on a run that removed nothing yet: 409
	NotSecured   Code = "account_not_secured"    // restore before the account was secured: 409
	Forbidden    Code = "forbidden"              // the caller lacks the app role for the route: 403
	KeyReused    Code = "idempotency_key_reused" // the key's run was started for a different request: 409
	Upstream     Code = "upstream_error"         // Graph or Exchange failed while resolving the request: 502
	// SamePrincipal: under easyauth the approver of a run is the principal that requested it
	// (four eyes, contract 6.1): 403.
	SamePrincipal Code = "same_principal"
	// NotAwaiting: approve or reject of a run that is not awaiting approval (never needed it,
	// already decided, or expired): 409.
	NotAwaiting Code = "not_awaiting_approval"
	// RecordTampered: the run record does not verify against the seals the handler wrote
	// (contract section 6, "Records"): changed outside the handler, so nothing of it is
	// acted on, approved or restored: 409.
	RecordTampered Code = "record_tampered"
	Internal       Code = "internal_error" // anything else: 500, details only in logs
)

// Error is an error with a code and a message that is safe to show the caller.
type Error struct {
	Code       Code
	Message    string
	RetryAfter time.Duration // for RateLimited
	Err        error         // the cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with a code and a caller-safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with a code and caller-safe message that keeps cause for logs.
func Wrap(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

// CodeOf returns the code of the first *Error in err's chain, Internal otherwise.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
