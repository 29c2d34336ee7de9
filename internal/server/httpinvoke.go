package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/tourniquet/tourniquet/internal/functions"
)

// httpTriggerRequest is the request inside an HTTP-trigger invocation, which the host sends
// instead of forwarding the request when enableForwardingHttpRequest is off (or the function
// has other bindings). Tourniquet's host.json turns forwarding on; this keeps the handler
// correct when a host or an operator's configuration does not.
type httpTriggerRequest struct {
	URL     string                     `json:"Url"`
	Method  string                     `json:"Method"`
	Query   map[string]json.RawMessage `json:"Query"`
	Headers map[string]json.RawMessage `json:"Headers"`
	Body    json.RawMessage            `json:"Body"`
}

// httpTriggerResponse is the http output binding's value.
type httpTriggerResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// serveHTTPInvocation runs the request of an HTTP-trigger invocation through the API routes
// and answers with the response as the "res" output.
func (s *Server) serveHTTPInvocation(w http.ResponseWriter, r *http.Request, inv functions.Invocation) {
	var req httpTriggerRequest
	raw, ok := inv.Data[functions.RequestBinding]
	if !ok || json.Unmarshal(functions.Unwrap(raw), &req) != nil || req.Method == "" {
		s.answer(w, http.StatusBadRequest, "invocation has no HTTP request")
		return
	}
	target, err := url.Parse(req.URL)
	if err != nil {
		s.answer(w, http.StatusBadRequest, "invocation has an invalid URL")
		return
	}
	var body []byte
	var text string
	if json.Unmarshal(req.Body, &text) == nil {
		body = []byte(text)
	} else if len(req.Body) > 0 && string(req.Body) != "null" {
		body = req.Body
	}
	inner, _ := http.NewRequestWithContext(r.Context(), strings.ToUpper(req.Method), target.RequestURI(), bytes.NewReader(body))
	for name, value := range req.Headers {
		for _, v := range stringOrStrings(value) {
			inner.Header.Add(name, v)
		}
	}
	rec := httptest.NewRecorder()
	s.api.ServeHTTP(rec, inner)
	headers := map[string]string{}
	for name := range rec.Header() {
		headers[name] = rec.Header().Get(name)
	}
	writeJSON(w, http.StatusOK, functions.Response{
		Outputs: map[string]any{"res": httpTriggerResponse{StatusCode: rec.Code, Headers: headers, Body: rec.Body.String()}},
		Logs:    []string{},
	})
}

func stringOrStrings(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}
