package tenantsim

import (
	"encoding/json"
	"net/http"
	"time"
)

// graphResult is a Graph answer before it is written, so that the same handlers serve
// plain requests and $batch items.
type graphResult struct {
	status int
	body   any // nil: no body
	header http.Header
}

func graphOK(body any) graphResult      { return graphResult{status: http.StatusOK, body: body} }
func graphCreated(body any) graphResult { return graphResult{status: http.StatusCreated, body: body} }
func graphNoContent() graphResult       { return graphResult{status: http.StatusNoContent} }

// graphError is an error answer; request ids are filled in when it is written.
type graphError struct {
	status  int
	code    string
	message string
}

func graphErr(status int, code, message string) graphResult {
	return graphResult{status: status, body: graphError{status: status, code: code, message: message}}
}

func graphNotFound(id string) graphResult {
	return graphErr(http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

func graphBadRequest(message string) graphResult {
	return graphErr(http.StatusBadRequest, "BadRequest", message)
}

// graphFault maps an injected status to the code Graph uses for it.
func graphFault(status int, message string) graphResult {
	code := map[int]string{
		http.StatusBadRequest:          "BadRequest",
		http.StatusUnauthorized:        "InvalidAuthenticationToken",
		http.StatusForbidden:           "Authorization_RequestDenied",
		http.StatusNotFound:            "Request_ResourceNotFound",
		http.StatusConflict:            "Conflict",
		http.StatusTooManyRequests:     "TooManyRequests",
		http.StatusInternalServerError: "generalException",
		http.StatusServiceUnavailable:  "serviceNotAvailable",
	}[status]
	if code == "" {
		code = "UnknownError"
	}
	return graphErr(status, code, message)
}

func emptyJSONBody() graphResult {
	return graphBadRequest("Empty Payload. JSON content expected.")
}

func invalidJSONBody() graphResult {
	return graphBadRequest("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
}

// decodeJSONBody unmarshals a required JSON request body into v.
func decodeJSONBody(body []byte, v any) (graphResult, bool) {
	if len(body) == 0 {
		return emptyJSONBody(), false
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidJSONBody(), false
	}
	return graphResult{}, true
}

// envelope renders the body of a result, giving error bodies the Graph envelope with
// request ids.
func (g graphResult) envelope(reqHeader http.Header) any {
	e, ok := g.body.(graphError)
	if !ok {
		return g.body
	}
	requestID := newGUID()
	clientRequestID := requestID
	if reqHeader != nil && reqHeader.Get("client-request-id") != "" {
		clientRequestID = reqHeader.Get("client-request-id")
	}
	return map[string]any{"error": map[string]any{
		"code":    e.code,
		"message": e.message,
		"innerError": map[string]any{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        requestID,
			"client-request-id": clientRequestID,
		},
	}}
}

// write sends the result as an HTTP answer.
func (g graphResult) write(w http.ResponseWriter, reqHeader http.Header) {
	for k, vs := range g.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("request-id", newGUID())
	if reqHeader != nil && reqHeader.Get("client-request-id") != "" {
		w.Header().Set("client-request-id", reqHeader.Get("client-request-id"))
	}
	if g.body == nil {
		w.WriteHeader(g.status)
		return
	}
	writeJSON(w, g.status, g.envelope(reqHeader))
}

func writeGraphError(w http.ResponseWriter, g graphResult, reqHeader http.Header) {
	g.write(w, reqHeader)
}
