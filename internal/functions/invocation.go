package functions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Invocation is the body the Functions host POSTs to /{FunctionName} for non-HTTP triggers.
type Invocation struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// Response is the body the host expects back (always a JSON object, never null).
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// DecodeInvocation parses an invocation body.
func DecodeInvocation(body []byte) (Invocation, error) {
	var inv Invocation
	if err := json.Unmarshal(body, &inv); err != nil {
		return inv, fmt.Errorf("functions: invocation is not JSON: %w", err)
	}
	return inv, nil
}

// Message returns the queue message of binding as JSON bytes. The host encodes string
// trigger data twice (a JSON string holding a JSON string holding the message), so strings
// are peeled until the value is no longer a string that holds JSON.
func (inv Invocation) Message(binding string) ([]byte, error) {
	raw, ok := inv.Data[binding]
	if !ok {
		return nil, fmt.Errorf("functions: invocation has no data %q", binding)
	}
	return Unwrap(raw), nil
}

// Unwrap peels JSON string layers off raw while the string holds JSON.
func Unwrap(raw json.RawMessage) []byte {
	cur := bytes.TrimSpace(raw)
	for i := 0; i < 4 && len(cur) > 0 && cur[0] == '"'; i++ {
		var s string
		if err := json.Unmarshal(cur, &s); err != nil {
			return cur
		}
		inner := strings.TrimSpace(s)
		if inner == "" || !json.Valid([]byte(inner)) {
			// Plain text: return it as a JSON string so callers decode uniformly.
			return cur
		}
		cur = []byte(inner)
	}
	return cur
}

// MetaString returns a metadata value as text ("\"abc\"" and "abc" both give abc).
func (inv Invocation) MetaString(key string) string {
	raw, ok := inv.Metadata[key]
	if !ok {
		return ""
	}
	val := Unwrap(raw)
	var s string
	if json.Unmarshal(val, &s) == nil {
		return s
	}
	return string(val)
}

// DequeueCount returns the queue message's delivery count ("DequeueCount":"1"), 1 if absent.
func (inv Invocation) DequeueCount() int {
	n, err := strconv.Atoi(strings.TrimSpace(inv.MetaString("DequeueCount")))
	if err != nil || n < 1 {
		return 1
	}
	return n
}
