package functions

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeInvocation feeds arbitrary bodies to the host envelope decoder and the string
// unwrapping: no panic; Unwrap returns either its (trimmed) input or valid JSON peeled from
// it, and peeling again changes nothing past the 4-layer limit; a decoded invocation's
// message, metadata and dequeue count are always readable.
func FuzzDecodeInvocation(f *testing.F) {
	for _, seed := range []string{
		`{"Data":{"msg":"\"{\\\"runId\\\":\\\"20260101t100000-00000000000000ab\\\"}\""},"Metadata":{"DequeueCount":"2","Id":"\"abc\""}}`,
		`{"Data":{"msg":"{\"user\":\"a@b.example\"}"},"Metadata":{"DequeueCount":2}}`,
		`{"Data":{"msg":"plain text"},"Metadata":{}}`,
		`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"timer-sweep"}}}`,
		`{"Data":{"msg":"\"\\\"\\\\\\\"\\\\\\\"\\\"\""}}`,
		`{"Data":null}`, `[]`, `{`, `"\"\""`, `{"Metadata":{"DequeueCount":"-5"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out := Unwrap(body)
		trimmed := bytes.TrimSpace(body)
		if !bytes.Equal(out, trimmed) && !json.Valid(out) {
			t.Fatalf("Unwrap(%q) = %q: neither the input nor valid JSON", body, out)
		}
		inv, err := DecodeInvocation(body)
		if err != nil {
			return
		}
		if n := inv.DequeueCount(); n < 1 {
			t.Fatalf("DequeueCount %d < 1", n)
		}
		_ = inv.MetaString("Id")
		if msg, err := inv.Message(MessageBinding); err == nil && len(bytes.TrimSpace(inv.Data[MessageBinding])) > 0 {
			if !json.Valid(msg) && !bytes.Equal(msg, bytes.TrimSpace(inv.Data[MessageBinding])) {
				t.Fatalf("message %q is neither JSON nor the raw data", msg)
			}
		}
	})
}
