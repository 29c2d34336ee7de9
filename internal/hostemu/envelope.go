package hostemu

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// invocationRequest is the body the host POSTs to /{FunctionName} for non-forwarded
// triggers.
type invocationRequest struct {
	Data     map[string]any `json:"Data"`
	Metadata map[string]any `json:"Metadata"`
}

// queueMessage is the part of a dequeued message that reaches the handler.
type queueMessage struct {
	ID              string
	PopReceipt      string
	Text            string // after messageEncoding is applied
	DequeueCount    int64
	InsertionTime   time.Time
	ExpirationTime  time.Time
	NextVisibleTime time.Time
}

// queueInvocation builds the envelope the host sends for a queue message. The host turns
// each value that is not an object into JSON text (Newtonsoft SerializeObject) before
// serializing the envelope, so strings arrive JSON-encoded twice and numbers as strings:
// the message text as "\"{\\\"runId\\\":...}\"", DequeueCount as "1", Id as "\"<id>\"".
// Time values are the exception: the host passes DateTimeOffset values through, so they
// arrive once-encoded ("2024-05-01T10:00:00+00:00", whole seconds).
func queueInvocation(functionName, bindingName string, msg queueMessage, now time.Time) invocationRequest {
	metadata := messageProperties(msg.Text)
	metadata["DequeueCount"] = strconv.FormatInt(msg.DequeueCount, 10)
	metadata["Id"] = jsonText(msg.ID)
	metadata["PopReceipt"] = jsonText(msg.PopReceipt)
	metadata["InsertionTime"] = dateTimeOffset(msg.InsertionTime)
	metadata["ExpirationTime"] = dateTimeOffset(msg.ExpirationTime)
	metadata["NextVisibleTime"] = dateTimeOffset(msg.NextVisibleTime)
	metadata["sys"] = systemMetadata(functionName, now)
	return invocationRequest{
		Data:     map[string]any{bindingName: jsonText(msg.Text)},
		Metadata: metadata,
	}
}

// timerInvocation builds the envelope of a timer firing; the TimerInfo object is an
// object, so it is not re-encoded.
func timerInvocation(functionName, bindingName string, now time.Time) invocationRequest {
	return invocationRequest{
		Data: map[string]any{bindingName: map[string]any{
			"Schedule":       map[string]any{"AdjustForDST": true},
			"ScheduleStatus": nil,
			"IsPastDue":      false,
		}},
		Metadata: map[string]any{"sys": systemMetadata(functionName, now)},
	}
}

// messageProperties lists the top-level properties of a JSON object message, which the
// host adds to the binding data: objects stay objects, everything else becomes its JSON
// text. Null values and names ending in "trigger" are left out, as the host does.
func messageProperties(text string) map[string]any {
	props := map[string]any{}
	var object map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &object) != nil {
		return props
	}
	for name, raw := range object {
		raw = bytes.TrimSpace(raw)
		if bytes.Equal(raw, []byte("null")) || strings.HasSuffix(strings.ToLower(name), "trigger") {
			continue
		}
		if raw[0] == '{' {
			props[name] = raw
			continue
		}
		var compact bytes.Buffer
		if json.Compact(&compact, raw) != nil {
			continue
		}
		props[name] = compact.String()
	}
	return props
}

func systemMetadata(functionName string, now time.Time) map[string]any {
	return map[string]any{
		"MethodName": functionName,
		"UtcNow":     now.UTC().Format(time.RFC3339Nano),
		"RandGuid":   newUUID(),
	}
}

// jsonText is s as a JSON string literal, the way the host pre-encodes string values.
func jsonText(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		// Marshalling a string cannot fail; invalid UTF-8 is replaced, not rejected.
		return strconv.Quote(s)
	}
	return string(b)
}

// dateTimeOffset formats t like Newtonsoft serializes a whole-second DateTimeOffset.
func dateTimeOffset(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05+00:00")
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails (it aborts the program instead)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
