package strictjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// fuzzBody has the shape of the bodies Tourniquet decodes (the start request and the queue
// message), nested options included, without importing the packages that define them (which
// pull in the Graph SDK and would make instrumented fuzzing rebuild it).
type fuzzBody struct {
	RunID          string          `json:"runId"`
	User           string          `json:"user"`
	Steps          []string        `json:"steps"`
	DryRun         bool            `json:"dryRun"`
	Mode           string          `json:"mode"`
	Reason         string          `json:"reason"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Options        json.RawMessage `json:"options"`
	Inner          *struct {
		Action string `json:"action"`
		Force  bool   `json:"force"`
	} `json:"inboxRules"`
}

// FuzzDecode feeds arbitrary bodies to Decode: it never panics, and what it accepts is one
// JSON value with known names only, no name twice and no two names differing only in
// letter case at any level, whose re-encoding it accepts again.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"user":"adele.vance@contoso.example","mode":"sync","reason":"INC-1"}`,
		`{"runId":"20260101t100000-00000000000000ab"}`,
		`{"user":"a@b.example","steps":["reset-password"],"options":{"inboxRules":{"action":"delete"}}}`,
		`{"user":"a@b.example","inboxRules":{"action":"delete","Action":"disable"}}`,
		`{"user":"a@b.example","dry_run":true}`,
		`{"user":"a@b.example"} {"user":"c@d.example"}`,
		`{"user":"a@b.example","dryRun":true,"DryRun":false}`,
		`{"user":"a@b.example","\u017fteps":[]}`,
		`{"user":`, `null`, `[]`, `"text"`, "\xff\xfe", `{"reason":"` + strings.Repeat("x", 300) + `"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v fuzzBody
		if err := Decode(body, &v); err != nil {
			return
		}
		if err := Check(body, nil); err != nil {
			t.Fatalf("accepted %q, which Check refuses: %v", body, err)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		var first json.RawMessage
		if err := dec.Decode(&first); err != nil || !json.Valid(first) {
			t.Fatalf("accepted %q, whose first value is not valid JSON (%v)", body, err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var w fuzzBody
		if err := Decode(again, &w); err != nil {
			t.Fatalf("accepted %q but refuses its re-encoding %s: %v", body, again, err)
		}
	})
}
