package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Error is a failed Graph call: either Graph answered with an error status (Status is
// set, Code and Message come from the OData error envelope when there is one), or no
// answer arrived (Status 0: timeout, network failure, credential failure).
type Error struct {
	Op      string // the client method, e.g. "SetPassword"
	Status  int    // HTTP status Graph answered, 0 when there was no answer
	Code    string // Graph's error code, e.g. "Request_ResourceNotFound"; may be empty
	Message string // Graph's error message or a description of the failure
	// RetryAfter is the Retry-After of Graph's answer (429, 503), or how long the tenant's
	// shared throttle holds calls back; 0 when none was given.
	RetryAfter time.Duration

	heldBack bool // not sent: the tenant's shared throttle said wait (internal/throttle)

	temporary bool  // no answer arrived for a reason worth retrying (timeout, network)
	cause     error // the transport or credential error, never an SDK error model
}

// Error renders "graph <op>: <status> <code>: <message>". It holds no request body and
// no header, so neither a password nor a token can appear in it.
func (e *Error) Error() string {
	message := e.Message
	if message == "" {
		message = "no error message in the response"
	}
	if e.Status == 0 {
		return fmt.Sprintf("graph %s: %s", e.Op, message)
	}
	code := e.Code
	if code == "" {
		code = strings.ReplaceAll(http.StatusText(e.Status), " ", "")
	}
	return fmt.Sprintf("graph %s: %d %s: %s", e.Op, e.Status, code, message)
}

// Unwrap exposes the transport or credential error behind a Status 0 failure, so callers
// can test errors.Is(err, context.DeadlineExceeded).
func (e *Error) Unwrap() error { return e.cause }

// Transient reports whether trying again later may succeed: throttling (429), server
// errors (5xx), timeouts and network failures.
func (e *Error) Transient() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.temporary
}

// Throttled reports whether Graph told the caller to slow down (429, or 503 with
// Retry-After) or the call was held back by the tenant's shared throttle, and for how long
// (0 when it did not say).
func (e *Error) Throttled() (time.Duration, bool) {
	throttled := e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable && e.RetryAfter > 0 || e.heldBack
	return e.RetryAfter, throttled
}

// IsNotFound reports whether err says the object does not exist: a 404, or the
// RoleAssignmentDoesNotExist answer (400) to removing a PIM schedule that is gone.
func IsNotFound(err error) bool {
	var ge *Error
	if !errors.As(err, &ge) {
		return false
	}
	return ge.Status == http.StatusNotFound || ge.Code == "RoleAssignmentDoesNotExist"
}

// PIMLicenceRequired is the error code Graph answers (400) to the PIM schedule listings in
// a tenant without Microsoft Entra ID P2 or ID Governance.
const PIMLicenceRequired = "AadPremiumLicenseRequired"

// IsPIMUnavailable reports whether err says the tenant has no PIM licence: the tenant
// then has no eligible or scheduled assignments, only plain active ones.
func IsPIMUnavailable(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Code == PIMLicenceRequired
}

// IsForbidden reports whether Graph refused the call for lack of permission (403).
func IsForbidden(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Status == http.StatusForbidden
}

// IsTransient reports whether err is an *Error worth retrying later.
func IsTransient(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Transient()
}

// toError maps whatever the SDK returned into *Error. observed is the status of the last
// HTTP answer the pipeline saw (0 when none), used when the SDK could not decode the body.
// ODataError.Error() panics when the envelope has no message, so only its nil-safe
// getters are used here, and the SDK error itself is never kept as a cause.
func toError(op string, err error, observedCall *observedStatus) error {
	if err == nil {
		return nil
	}
	observed := observedCall.get()
	var held interface{ HeldBackUntil() time.Time }
	if errors.As(err, &held) {
		// Never sent: another call (maybe on another instance) was told to wait.
		return &Error{Op: op, Code: "HeldBack", Message: firstLine(err.Error()), RetryAfter: max(time.Until(held.HeldBackUntil()), 0),
			temporary: true, heldBack: true}
	}
	var odata *odataerrors.ODataError
	if errors.As(err, &odata) {
		e := &Error{Op: op, Status: odata.GetStatusCode()}
		if main := odata.GetErrorEscaped(); main != nil {
			e.Code = deref(main.GetCode())
			e.Message = deref(main.GetMessage())
		}
		if e.Status == 0 {
			e.Status = observed
		}
		if e.Status == observed {
			e.RetryAfter = observedCall.getRetryAfter()
		}
		return e
	}
	var api *abstractions.ApiError
	if errors.As(err, &api) {
		status := api.ResponseStatusCode
		if status == 0 {
			status = observed
		}
		e := &Error{Op: op, Status: status, Message: "empty or unreadable error response"}
		if status == observed {
			e.RetryAfter = observedCall.getRetryAfter()
		}
		return e
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// No answer, or the answer was cut off: always worth another delivery.
		return &Error{Op: op, Message: describeTransport(err), temporary: true, cause: err}
	}
	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) {
		// The token endpoint failed. Without an answer, or with 429/5xx, it is likely a
		// passing outage of the identity endpoint; anything else (no such identity,
		// consent missing) needs a person.
		status := 0
		if authErr.RawResponse != nil {
			status = authErr.RawResponse.StatusCode
		}
		return &Error{
			Op:        op,
			Message:   "token request failed: " + firstLine(err.Error()),
			temporary: status == 0 || status == http.StatusTooManyRequests || status >= 500,
			cause:     err,
		}
	}
	if observed >= 400 {
		// Graph answered with an error the SDK could not parse (e.g. an HTML 502 page).
		return &Error{Op: op, Status: observed, Message: "unreadable error response", RetryAfter: observedCall.getRetryAfter()}
	}
	// Anything else happened before a request went out (credential) or while decoding
	// a success answer; retrying the same input gives the same result, except for a
	// token endpoint that is briefly unavailable, which azidentity already retried.
	return &Error{Op: op, Message: firstLine(err.Error()), cause: err}
}

// firstLine keeps the summary of a multi-line error (azidentity appends a response dump).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// describeTransport names a failure that produced no answer.
func describeTransport(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out waiting for Graph"
	case errors.Is(err, context.Canceled):
		return "request canceled"
	default:
		return "network error: " + err.Error()
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
