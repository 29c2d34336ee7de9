package tenantsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// maxBatchRequests is Graph's JSON batching limit.
const maxBatchRequests = 20

type batchItemIn struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchItemOut struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body,omitempty"`
}

// serveBatch is POST /v1.0/$batch: each item goes through the same faults and handlers
// as a plain request, in order, and is recorded with InBatch set. Items are answered in
// request order (Graph may reorder them; clients must match on id).
func (s *Sim) serveBatch(c *graphCall) graphResult {
	if c.method != http.MethodPost {
		return graphErr(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
	}
	var in struct {
		Requests []batchItemIn `json:"requests"`
	}
	if res, ok := decodeJSONBody(c.body, &in); !ok {
		return res
	}
	if res, ok := validateBatch(in.Requests); !ok {
		return res
	}
	status := map[string]int{}
	out := make([]batchItemOut, 0, len(in.Requests))
	for _, item := range in.Requests {
		var res graphResult
		if failedDependency(item.DependsOn, status) {
			res = graphErr(http.StatusFailedDependency, "FailedDependency", "The request failed because it depends on a request that failed.")
		} else {
			res = s.batchItem(c, item)
		}
		status[item.ID] = res.status
		out = append(out, renderBatchItem(item, res))
	}
	return graphOK(map[string]any{"responses": out})
}

func validateBatch(items []batchItemIn) (graphResult, bool) {
	switch {
	case len(items) == 0:
		return graphBadRequest("Invalid batch payload format: 'requests' is empty."), false
	case len(items) > maxBatchRequests:
		return graphBadRequest("The number of requests in a batch exceeds the maximum of 20."), false
	}
	seen := map[string]bool{}
	for _, item := range items {
		switch {
		case item.ID == "" || item.Method == "" || item.URL == "":
			return graphBadRequest("Invalid batch payload format: every request needs id, method and url."), false
		case seen[item.ID]:
			return graphBadRequest("Invalid batch payload format: duplicate request id '" + item.ID + "'."), false
		case hasBody(item.Body) && contentType(item.Headers) == "":
			return graphBadRequest("Write request id : " + item.ID + " does not contain Content-Type header or body."), false
		}
		for _, dep := range item.DependsOn {
			if !seen[dep] {
				return graphBadRequest("Invalid batch payload format: request '" + item.ID + "' depends on unknown or later request '" + dep + "'."), false
			}
		}
		seen[item.ID] = true
	}
	return graphResult{}, true
}

func failedDependency(deps []string, status map[string]int) bool {
	for _, d := range deps {
		if status[d] < 200 || status[d] > 299 {
			return true
		}
	}
	return false
}

// batchItem runs one item as if it were a request of its own. Items share the batch's
// bearer token, which was checked before the batch got here.
func (s *Sim) batchItem(c *graphCall, item batchItemIn) graphResult {
	method := strings.ToUpper(item.Method)
	u, err := url.Parse(item.URL)
	rec := Request{Method: method, Path: item.URL, Service: ServiceGraph, Authorized: true, InBatch: true}
	var res graphResult
	defer func() {
		rec.Status = res.status
		s.record(rec)
	}()
	// msgraph-sdk-go-core strips the adapter's base URL from item URLs, but request
	// builders keep the host they were created with: after SetBaseUrl the items arrive as
	// absolute https://graph.microsoft.com/v1.0/... URLs. Accept those by their path.
	if err != nil || (u.IsAbs() && !strings.HasPrefix(u.Path, graphPrefix+"/")) {
		res = graphBadRequest("Invalid request URL '" + item.URL + "': batch items take a URL relative to the version root.")
		return res
	}
	path := "/" + strings.TrimPrefix(u.Path, "/")
	if u.IsAbs() {
		path = strings.TrimPrefix(path, graphPrefix)
	}
	if strings.EqualFold(path, "/$batch") {
		res = graphBadRequest("A $batch request cannot contain another $batch request.")
		return res
	}
	var body []byte
	if hasBody(item.Body) {
		body = item.Body
	}
	header := http.Header{}
	for k, v := range item.Headers {
		header.Set(k, v)
	}
	rec.Path, rec.RawQuery, rec.Body = graphPrefix+path, u.RawQuery, body

	if d := s.faults.decide(faultKey{method: method, path: graphPrefix + path}, true, false); d.kind == faultStatus {
		res = graphFault(d.status, d.message)
		if d.retryAfter != "" {
			res.header = http.Header{"Retry-After": {d.retryAfter}}
		}
		return res
	}
	res = s.routeGraph(&graphCall{method: method, path: path, query: u.Query(), body: body, base: c.base, header: header})
	return res
}

func renderBatchItem(item batchItemIn, res graphResult) batchItemOut {
	headers := map[string]string{}
	for k := range res.header {
		headers[k] = res.header.Get(k)
	}
	out := batchItemOut{ID: item.ID, Status: res.status, Headers: headers}
	if res.body != nil {
		headers["Content-Type"] = "application/json"
		hdr := http.Header{}
		for k, v := range item.Headers {
			hdr.Set(k, v)
		}
		out.Body = res.envelope(hdr)
	}
	return out
}

func hasBody(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}

func contentType(headers map[string]string) string {
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Type") {
			return v
		}
	}
	return ""
}
