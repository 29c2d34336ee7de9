package exchange

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Error is every failure the service answered, and every failure to reach it (Status 0).
// Its Error() text is written for a SOC analyst: cmdlet, status, code and the most useful
// message the service gave, without the "<id>|<exception type>|" prefix Exchange puts in
// front of cmdlet failures (the type is kept in Type, the id in ErrorID).
type Error struct {
	Cmdlet     string
	Status     int    // HTTP status; 0 when no answer arrived (network error, timeout, token)
	Code       string // error.code, e.g. "NotFound", "BadRequest", "TooManyRequests"
	Message    string // error.details[].message, else innererror.internalexception.message, else error.message
	RetryAfter time.Duration
	// Type is the Exchange exception type when the service names one, e.g.
	// "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException": the one in
	// the message prefix, else innererror.internalexception.type, else innererror.type.
	Type string
	// ErrorID is the cmdlet's error id from the message prefix (e.g. "Ex6F9304"), "" when none.
	ErrorID string
	// Err is the underlying cause of a Status 0 failure (e.g. context.DeadlineExceeded).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Exchange %s", e.Cmdlet)
	if e.Status == 0 {
		b.WriteString(": no answer from the service")
	} else {
		fmt.Fprintf(&b, " answered %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether trying again later may succeed: throttling, server errors,
// timeouts and failures to reach the service. 400, 401, 403 and 404 are permanent.
func (e *Error) Transient() bool {
	switch {
	case e.Status == 0:
		return true
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests:
		return true
	case e.Status >= 500:
		return true
	default:
		return false
	}
}

// Throttled reports whether Exchange told the caller to slow down (429, or 503 with
// Retry-After) or the call was held back by the tenant's shared throttle, and for how long
// (0 when it did not say).
func (e *Error) Throttled() (time.Duration, bool) {
	throttled := e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable && e.RetryAfter > 0 ||
		e.Status == 0 && e.Code == codeHeldBack
	return e.RetryAfter, throttled
}

// codeHeldBack marks a call the tenant's shared throttle did not send (internal/throttle).
const codeHeldBack = "HeldBack"

// IsNotFound reports whether err says the mailbox, rule or entry does not exist: HTTP 404,
// error code NotFound, an ...ObjectNotFoundException / ...NotFoundException type, or the
// "couldn't be found" sentence of ManagementObjectNotFoundException. Exchange answers the
// same missing object with 404 or 400 depending on the cmdlet and the path inside the
// service, so the status alone is not enough.
func IsNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Status == 0 {
		return false
	}
	return e.Status == http.StatusNotFound ||
		strings.EqualFold(e.Code, "NotFound") ||
		isNotFoundType(e.Type) ||
		isNotFoundType(e.Code) ||
		strings.Contains(e.Message, "couldn't be found") ||
		strings.Contains(e.Message, "could not be found")
}

func isNotFoundType(t string) bool {
	return strings.HasSuffix(t, "NotFoundException")
}

// ShortType is the exception type without its namespace ("ManagementObjectNotFoundException").
func (e *Error) ShortType() string {
	if i := strings.LastIndex(e.Type, "."); i >= 0 {
		return e.Type[i+1:]
	}
	return e.Type
}

// IsTransient reports whether err is an *Error that may succeed when tried again later.
func IsTransient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Transient()
}

// errorEnvelope is the OData error shape Exchange answers with. Real answers look like
// (docs/wire-formats.md, docs/simulator-fidelity.md):
//
//	{"error":{"code":"NotFound","message":"Error executing cmdlet",
//	  "details":[{"code":"Client","target":"","message":"Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object '...' couldn't be found on '....PROD.OUTLOOK.COM'."}],
//	  "innererror":{"message":"Error executing cmdlet","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"...",
//	    "internalexception":{"message":"Exception of type '...DirectInvokeCmdletExecutionException' was thrown.","type":"...","stacktrace":"..."}},
//	  "adminapi.warnings@odata.type":"#Collection(String)","@adminapi.warnings":[]}}
//
// Every field is decoded loosely: an error answer whose shape drifts must still say what
// went wrong rather than fail to decode.
type errorEnvelope struct {
	Error struct {
		Code       anyText      `json:"code"`
		Message    anyText      `json:"message"`
		Details    errorDetails `json:"details"`
		InnerError struct {
			Message           anyText `json:"message"`
			Type              anyText `json:"type"`
			InternalException struct {
				Message anyText `json:"message"`
				Type    anyText `json:"type"`
			} `json:"internalexception"` // Exchange writes it in lower case; json matches either case
		} `json:"innererror"`
	} `json:"error"`
}

// errorDetails is error.details: an array of {code, message, target}, read as well when a
// single object or anything else arrives (anything else is ignored).
type errorDetails []errorDetail

type errorDetail struct {
	Code    anyText `json:"code"`
	Message anyText `json:"message"`
}

// anyText is a text that never fails: an object or array reads as "".
type anyText string

func (t *anyText) UnmarshalJSON(b []byte) error {
	var v text
	if v.UnmarshalJSON(b) != nil {
		v = ""
	}
	*t = anyText(v)
	return nil
}

func (d *errorDetails) UnmarshalJSON(b []byte) error {
	var items []json.RawMessage
	if json.Unmarshal(b, &items) != nil {
		items = []json.RawMessage{b}
	}
	*d = nil
	for _, item := range items {
		var one errorDetail
		if json.Unmarshal(item, &one) == nil {
			*d = append(*d, one)
		}
	}
	return nil
}

// genericInnerTypes are wrapper exceptions that say nothing about what failed.
var genericInnerTypes = []string{
	"Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
	"Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException",
}

// errorFromAnswer builds the *Error for a non-2xx answer.
func errorFromAnswer(cmdlet string, status int, body []byte, retryAfter time.Duration) *Error {
	e := &Error{Cmdlet: cmdlet, Status: status, RetryAfter: retryAfter}
	var env errorEnvelope
	// A type mismatch (innererror as a string, say) still fills every other field:
	// encoding/json carries on and reports the first mismatch at the end.
	var syntaxErr *json.SyntaxError
	if err := json.Unmarshal(body, &env); err == nil || !errors.As(err, &syntaxErr) && len(bytes.TrimSpace(body)) > 0 {
		e.Code = strings.TrimSpace(string(env.Error.Code))
		e.Message, e.Type, e.ErrorID = usefulMessage(env)
	}
	if e.Message == "" {
		e.Message = bodySnippet(body)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	e.Message = tidy(e.Message)
	return e
}

// usefulMessage picks the most specific text, each piece without its "<id>|<type>|" prefix:
// details (the cmdlet's own error), then the internal exception unless it is only
// "Exception of type ... was thrown.", then the top-level and inner messages. The type is
// the most specific one named anywhere.
func usefulMessage(env errorEnvelope) (msg, typ, id string) {
	inner := env.Error.InnerError
	var details []string
	for _, d := range env.Error.Details {
		dID, dType, m := splitExceptionPrefix(strings.TrimSpace(string(d.Message)))
		if m = strings.TrimSpace(m); m == "" {
			continue
		}
		if typ == "" {
			typ, id = dType, dID
		}
		if !slices.Contains(details, m) {
			details = append(details, m)
		}
	}
	internalID, internalType, internal := splitExceptionPrefix(strings.TrimSpace(string(inner.InternalException.Message)))
	if typ == "" && internalType != "" {
		typ, id = internalType, internalID
	}
	for _, t := range []string{string(inner.InternalException.Type), string(inner.Type)} {
		if typ == "" && t != "" && !slices.Contains(genericInnerTypes, t) {
			typ = t
		}
	}
	if typ == "" {
		typ = strings.TrimSpace(string(inner.Type))
	}
	if len(details) > 0 {
		return strings.Join(details, "; "), typ, id
	}
	if internal != "" && !isWrapperMessage(internal) {
		return internal, typ, id
	}
	for _, m := range []string{string(env.Error.Message), string(inner.Message), internal} {
		if _, _, m = splitExceptionPrefix(strings.TrimSpace(m)); m != "" {
			return m, typ, id
		}
	}
	return "", typ, id
}

// isWrapperMessage recognises .NET's default exception text, which names a wrapper type
// and nothing else.
func isWrapperMessage(m string) bool {
	return strings.HasPrefix(m, "Exception of type '") && strings.HasSuffix(m, "' was thrown.")
}

// splitExceptionPrefix splits "<id>|<exception type>|<text>" (the id may be empty:
// "|<type>|<text>"). The type must look like a .NET type name and the id like Exchange's
// short hex ids, so a sentence that merely contains "|" is left alone.
func splitExceptionPrefix(msg string) (id, typ, rest string) {
	first, afterFirst, ok := strings.Cut(msg, "|")
	if !ok || !exceptionIDPattern.MatchString(first) {
		return "", "", msg
	}
	typ, rest, ok = strings.Cut(afterFirst, "|")
	if !ok || !exceptionTypePattern.MatchString(typ) {
		return "", "", msg
	}
	return first, typ, strings.TrimSpace(rest)
}

var (
	exceptionIDPattern   = regexp.MustCompile(`^[A-Za-z0-9]{0,16}$`)
	exceptionTypePattern = regexp.MustCompile(`^[A-Za-z_]\w*(\.\w+)+$`)
)

// bodySnippet returns the start of a non-JSON, non-HTML body (a gateway's plain-text
// answer), or "".
func bodySnippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" || strings.HasPrefix(s, "<") || strings.HasPrefix(s, "{") {
		return ""
	}
	return s
}

// maxMessageRunes keeps one error from flooding a run record.
const maxMessageRunes = 500

// tidy folds whitespace and control characters and bounds the length.
func tidy(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if runes := []rune(s); len(runes) > maxMessageRunes {
		s = string(runes[:maxMessageRunes]) + "…"
	}
	return s
}
