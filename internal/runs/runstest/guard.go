// Package runstest makes Azurite refuse, as the Azure Table service does, the entities it
// would otherwise store: keys with / \ # ? or control characters, string properties over
// 64 KiB, more than 255 properties, entities over 1 MiB (runs.CheckEntity). Azurite is
// lenient about these, so a test that passes against it alone proves nothing about them.
package runstest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/runs"
)

// Guard is a pipeline policy for the aztables client. Every entity a request writes (insert,
// update, merge, upsert, and each operation of a batch) is checked; a write the service would
// refuse is not sent, answered 400 as the service answers, and remembered.
type Guard struct {
	mu       sync.Mutex
	refused  []string
	entities int
}

// ClientOptions returns client options whose pipeline runs g on every request, then
// runs.ASCIIBodies as the handler's own client does.
func (g *Guard) ClientOptions() *aztables.ClientOptions {
	return &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{g, runs.ASCIIBodies{}}}}
}

// Do implements policy.Policy.
func (g *Guard) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	switch raw.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, "MERGE":
	default:
		return req.Next()
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	entities, err := writtenEntities(raw.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, fmt.Errorf("runstest: read the request to check it: %w", err)
	}
	for _, e := range entities {
		if err := runs.CheckEntity(e); err != nil {
			g.mu.Lock()
			g.refused = append(g.refused, raw.Method+" "+raw.URL.Path+": "+err.Error())
			g.mu.Unlock()
			return refusal(raw, err), nil
		}
	}
	g.mu.Lock()
	g.entities += len(entities)
	g.mu.Unlock()
	return req.Next()
}

// Entities reports how many entities passed the check.
func (g *Guard) Entities() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.entities
}

// Refused lists the writes the guard refused.
func (g *Guard) Refused() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.refused...)
}

// Check fails t for every write the guard refused.
func (g *Guard) Check(t testing.TB) {
	t.Helper()
	for _, r := range g.Refused() {
		t.Errorf("the Table service would refuse: %s", r)
	}
}

func readBody(req *policy.Request) ([]byte, error) {
	rd := req.Body()
	if rd == nil {
		return nil, nil
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	return b, req.RewindBody()
}

// writtenEntities extracts the entities a request body writes: the JSON object of a single
// operation, or those of the operations of a batch (multipart/mixed, changesets nested).
func writtenEntities(contentType string, body []byte) ([]map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	mediaType, params, _ := mime.ParseMediaType(contentType)
	if !strings.HasPrefix(mediaType, "multipart/") {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
		if _, ok := m["PartitionKey"]; !ok {
			return nil, nil // e.g. create table: {"TableName": ...}
		}
		return []map[string]any{m}, nil
	}
	var out []map[string]any
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, err
		}
		ct := part.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "multipart/") {
			inner, err := writtenEntities(ct, data)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		op, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return nil, err
		}
		opBody, _ := io.ReadAll(op.Body)
		inner, err := writtenEntities(op.Header.Get("Content-Type"), opBody)
		if err != nil {
			return nil, err
		}
		out = append(out, inner...)
	}
}

// refusal is the service's answer to an entity it does not accept.
func refusal(req *http.Request, err error) *http.Response {
	code := "EntityTooLarge"
	switch msg := err.Error(); {
	case strings.Contains(msg, "key"):
		code = "OutOfRangeInput"
	case strings.Contains(msg, "properties"):
		code = "TooManyProperties"
	case strings.Contains(msg, "property"):
		code = "PropertyValueTooLarge"
	}
	body, _ := json.Marshal(map[string]any{"odata.error": map[string]any{
		"code": code, "message": map[string]any{"lang": "en-US", "value": err.Error()},
	}})
	return &http.Response{
		StatusCode: http.StatusBadRequest, Status: "400 Bad Request", Request: req,
		Header:        http.Header{"Content-Type": {"application/json;odata=minimalmetadata"}, "X-Ms-Error-Code": {code}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}
}
