package runs

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// ASCIIBodies is a pipeline policy for the aztables client that sends every request body as
// ASCII: each non-ASCII character becomes a JSON \uXXXX escape (a surrogate pair outside the
// Basic Multilingual Plane). Non-ASCII bytes only ever occur inside JSON strings, so the
// escaped body means the same to the Table service.
//
// Azurite (3.37) needs it: it reads a single-entity request body by joining the network
// chunks as strings one by one (readRequestIntoText in
// dist/src/table/generated/utils/serializer.js), so a multi-byte UTF-8 character that
// straddles two chunks is stored as U+FFFD. Large evidence in German, Chinese or emoji came
// back altered without this; with it, byte-identical. The SDK re-encodes the entity itself,
// which is why the escaping happens here, on the wire.
type ASCIIBodies struct{}

// Do implements policy.Policy.
func (ASCIIBodies) Do(req *policy.Request) (*http.Response, error) {
	switch req.Raw().Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, "MERGE":
	default:
		return req.Next()
	}
	body := req.Body()
	if body == nil {
		return req.Next()
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("runs: read request body: %w", err)
	}
	escaped, changed := escapeNonASCII(data)
	if !changed {
		if err := req.RewindBody(); err != nil {
			return nil, err
		}
		return req.Next()
	}
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(escaped)), req.Raw().Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	return req.Next()
}

// escapeNonASCII rewrites every non-ASCII character of a JSON text as a \u escape.
func escapeNonASCII(data []byte) ([]byte, bool) {
	i := 0
	for i < len(data) && data[i] < utf8.RuneSelf {
		i++
	}
	if i == len(data) {
		return data, false
	}
	out := make([]byte, 0, len(data)+len(data)/2)
	out = append(out, data[:i]...)
	for _, r := range string(data[i:]) {
		switch {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case r >= 0x10000:
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out, true
}
