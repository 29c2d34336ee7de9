package hostemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Identity the emulator presents to the handler, as a current Functions host does.
const (
	HostVersion   = "4.1040.300.0"
	userAgentName = "Azure-Functions-Host"

	headerInvocationID = "X-Azure-Functions-InvocationId"
	headerHostVersion  = "X-Azure-Functions-HostVersion"

	maxResultBytes = 16 << 20
)

// Invocation is one delivery to the handler, successful or not.
type Invocation struct {
	Function     string
	Queue        string // queue-triggered invocations only
	MessageID    string
	DequeueCount int
	// Status is the handler's HTTP status, 0 when no answer came (crash, refused
	// connection, timeout).
	Status int
	// Error says why the invocation failed; empty on success.
	Error string
	At    time.Time
}

// invoke POSTs an invocation envelope to /{functionName} and checks the answer the way
// the host does: 2xx with a JSON object body, else the invocation failed.
func (h *Host) invoke(ctx context.Context, functionName string, envelope invocationRequest) (int, error) {
	body, err := json.Marshal(envelope)
	if err != nil {
		return 0, fmt.Errorf("encode invocation of %s: %w", functionName, err)
	}
	if h.app.functionTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.app.functionTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.worker.baseURL()+"/"+functionName, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("invocation request for %s: %w", functionName, err)
	}
	req.Header.Set("Content-Type", "application/json")
	addInvocationHeaders(req.Header, newUUID())

	resp, err := h.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST /%s: %w", functionName, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResultBytes))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("POST /%s: read answer: %w", functionName, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("POST /%s: status %d: %s", functionName, resp.StatusCode, truncate(answer, 512))
	}
	result, err := parseInvocationResult(resp.Header.Get("Content-Type"), answer)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("POST /%s: %w", functionName, err)
	}
	for _, line := range result.Logs {
		fmt.Fprintf(h.log, "hostemu: %s log: %s\n", functionName, line)
	}
	return resp.StatusCode, nil
}

// addInvocationHeaders sets what the host adds to every request it sends the handler,
// forwarded HTTP requests included. The host appends its product to any User-Agent.
func addInvocationHeaders(header http.Header, invocationID string) {
	header.Set(headerInvocationID, invocationID)
	header.Set(headerHostVersion, HostVersion)
	product := userAgentName + "/" + HostVersion
	if ua := header.Get("User-Agent"); ua != "" {
		product = ua + " " + product
	}
	header.Set("User-Agent", product)
}

// invocationResult is the answer a custom handler gives for a non-forwarded invocation.
type invocationResult struct {
	Outputs     map[string]json.RawMessage `json:"Outputs"`
	Logs        []string                   `json:"Logs"`
	ReturnValue json.RawMessage            `json:"ReturnValue"`
}

// parseInvocationResult accepts what the host's JSON formatter accepts: an
// application/json or text/json body holding a JSON object. The host fails on other
// media types and hangs on a null body; both count as failed invocations here.
func parseInvocationResult(contentType string, body []byte) (invocationResult, error) {
	var result invocationResult
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || (mediaType != "application/json" && mediaType != "text/json") {
		return result, fmt.Errorf("answer content type %q is not JSON", contentType)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return result, fmt.Errorf("answer is not a JSON object: %s", truncate(body, 256))
	}
	if err := json.Unmarshal(trimmed, &result); err != nil {
		return result, fmt.Errorf("answer is not an invocation result: %w", err)
	}
	return result, nil
}

func truncate(b []byte, max int) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
