package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/strictjson"
)

const (
	maxAPIBody        = 1 << 20 // 1 MiB (contract: larger bodies answer 413)
	maxInvocationBody = 4 << 20
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Code     string `json:"code"`
	Instance string `json:"instance,omitempty"`
	RunID    string `json:"runId,omitempty"`
	Run      any    `json:"run,omitempty"`
}

var statusOf = map[apperr.Code]int{
	apperr.Invalid:        http.StatusBadRequest,
	apperr.TooLarge:       http.StatusRequestEntityTooLarge,
	apperr.Unauthorized:   http.StatusUnauthorized,
	apperr.NotFound:       http.StatusNotFound,
	apperr.Protected:      http.StatusForbidden,
	apperr.RateLimited:    http.StatusTooManyRequests,
	apperr.Unavailable:    http.StatusServiceUnavailable,
	apperr.Conflict:       http.StatusConflict,
	apperr.NotSecured:     http.StatusConflict,
	apperr.Forbidden:      http.StatusForbidden,
	apperr.KeyReused:      http.StatusConflict,
	apperr.Upstream:       http.StatusBadGateway,
	apperr.SamePrincipal:  http.StatusForbidden,
	apperr.NotAwaiting:    http.StatusConflict,
	apperr.RecordTampered: http.StatusConflict,
	apperr.Internal:       http.StatusInternalServerError,
}

// writeError answers err as application/problem+json. Internal errors are logged and shown
// only as "internal error", so no detail of the tenant or the code leaks.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := apperr.CodeOf(err)
	status := statusOf[code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	p := problem{Type: "https://tourniquet.invalid/problems/" + strings.ReplaceAll(string(code), "_", "-"), Title: http.StatusText(status), Status: status, Code: string(code), Instance: r.URL.Path}
	e, ok := apperr.As(err)
	switch {
	case ok && code != apperr.Internal:
		p.Detail = e.Message
	default:
		p.Detail = "internal error"
	}
	if status >= 500 {
		s.log.Error("request failed", "path", r.URL.Path, "code", code, "err", err)
	}
	var refused *remediation.RefusedRun
	if errors.As(err, &refused) {
		p.RunID = refused.Run.RunID
		p.Run = refused.Run
	}
	if ok && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// decodeJSON decodes a request body strictly: unknown fields are refused, so a typo such as
// "dryrun" can never turn a dry run into a real one.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", tooLarge.Limit)
		}
		return apperr.New(apperr.Invalid, "could not read the request body")
	}
	return decodeStrict(body, v)
}

// decodeStrict refuses, besides unknown fields, duplicate names and names that differ from
// a field only in letter case, at every nesting level: encoding/json alone would read
// {"dryRun":true,"DryRun":false} as a real run.
func decodeStrict(body []byte, v any) error {
	if err := strictjson.Decode(body, v); err != nil {
		return apperr.New(apperr.Invalid, "invalid JSON body: %s", cleanJSONError(err))
	}
	return nil
}

func cleanJSONError(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return fmt.Sprint(strings.TrimPrefix(msg, "json: "))
}
