package functions

import (
	"encoding/json"
	"testing"
)

func TestMessageDecoding(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"double-encoded string, as the host sends it", `{"Data":{"msg":"\"{\\\"runId\\\":\\\"r1\\\"}\""},"Metadata":{"DequeueCount":"1"}}`, `{"runId":"r1"}`},
		{"single-encoded string", `{"Data":{"msg":"{\"runId\":\"r1\"}"}}`, `{"runId":"r1"}`},
		{"plain object", `{"Data":{"msg":{"runId":"r1"}}}`, `{"runId":"r1"}`},
		{"plain text stays a JSON string", `{"Data":{"msg":"\"hello\""}}`, `"hello"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := DecodeInvocation([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := inv.Message("msg")
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("result %s is not JSON: %v", got, err)
			}
			_ = json.Unmarshal([]byte(tt.want), &w)
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			if string(gj) != string(wj) {
				t.Errorf("got %s, want %s", gj, wj)
			}
		})
	}
}

func TestMetadataIsReadFromStrings(t *testing.T) {
	inv, err := DecodeInvocation([]byte(`{"Data":{},"Metadata":{"DequeueCount":"3","Id":"\"5a1e6c9e-0000-4000-8000-000000000001\"","sys":{"MethodName":"queue-step-reset-password"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.DequeueCount(); got != 3 {
		t.Errorf("DequeueCount = %d, want 3", got)
	}
	if got := inv.MetaString("Id"); got != "5a1e6c9e-0000-4000-8000-000000000001" {
		t.Errorf("Id = %q", got)
	}
	numeric, _ := DecodeInvocation([]byte(`{"Metadata":{"DequeueCount":2}}`))
	if got := numeric.DequeueCount(); got != 2 {
		t.Errorf("numeric DequeueCount = %d, want 2", got)
	}
	if got := (Invocation{}).DequeueCount(); got != 1 {
		t.Errorf("missing DequeueCount = %d, want 1", got)
	}
}
