package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Error is every failure the service answered, and every failure to reach it (Status 0).
// Its Error() text is written for a SOC analyst: cmdlet, status, code and the most useful
// message the service gave.
type Error struct {
	Cmdlet     string
	Status     int    // HTTP status; 0 when no answer arrived (network error, timeout, token)
	Code       string // error.code, e.g. "NotFound", "TooManyRequests"
	Message    string // error.details[].message, else innererror.internalException.message, else error.message
	RetryAfter time.Duration
	// Type is the Exchange exception type when the service names one, e.g.
	// "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException".
	Type string
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

// IsNotFound reports whether err says the mailbox, rule or entry does not exist.
func IsNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Status == http.StatusNotFound ||
		strings.EqualFold(e.Code, "NotFound") ||
		strings.HasSuffix(e.Type, "NotFoundException") ||
		strings.HasSuffix(e.Code, "NotFoundException")
}

// IsTransient reports whether err is an *Error that may succeed when tried again later.
func IsTransient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Transient()
}

// errorEnvelope is the OData error shape Exchange answers with.
type errorEnvelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"details"`
		InnerError struct {
			Message           string `json:"message"`
			Type              string `json:"type"`
			InternalException struct {
				Message string `json:"message"`
			} `json:"internalException"`
		} `json:"innererror"`
	} `json:"error"`
}

// errorFromAnswer builds the *Error for a non-2xx answer.
func errorFromAnswer(cmdlet string, status int, body []byte, retryAfter time.Duration) *Error {
	e := &Error{Cmdlet: cmdlet, Status: status, RetryAfter: retryAfter}
	var env errorEnvelope
	if json.Unmarshal(body, &env) == nil {
		e.Code = env.Error.Code
		e.Type = env.Error.InnerError.Type
		e.Message = usefulMessage(env)
	}
	if e.Message == "" {
		e.Message = bodySnippet(body)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	// Exchange prefixes many messages with "|<exception type>|"; the type is worth
	// keeping for IsNotFound, the analyst only needs the sentence.
	if typ, rest, ok := splitExceptionPrefix(e.Message); ok {
		if e.Type == "" {
			e.Type = typ
		}
		e.Message = rest
	}
	e.Message = tidy(e.Message)
	return e
}

// usefulMessage picks the most specific text: details, then the internal exception,
// then the top-level message.
func usefulMessage(env errorEnvelope) string {
	var details []string
	for _, d := range env.Error.Details {
		if m := strings.TrimSpace(d.Message); m != "" && !slices.Contains(details, m) {
			details = append(details, m)
		}
	}
	if len(details) > 0 {
		return strings.Join(details, "; ")
	}
	if m := strings.TrimSpace(env.Error.InnerError.InternalException.Message); m != "" {
		return m
	}
	if m := strings.TrimSpace(env.Error.Message); m != "" {
		return m
	}
	return strings.TrimSpace(env.Error.InnerError.Message)
}

func splitExceptionPrefix(msg string) (typ, rest string, ok bool) {
	if !strings.HasPrefix(msg, "|") {
		return "", msg, false
	}
	typ, rest, ok = strings.Cut(msg[1:], "|")
	if !ok || typ == "" || strings.ContainsAny(typ, " \t") {
		return "", msg, false
	}
	return typ, rest, true
}

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
