package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/strictjson"
)

// FuzzDecodeStrict feeds arbitrary bodies to the strict request decoder, into the start
// request and the queue message shapes: it never panics, every refusal is a 400 with a
// short single-line message, and what it accepts is one JSON object with known fields only.
func FuzzDecodeStrict(f *testing.F) {
	for _, seed := range []string{
		`{"user":"adele.vance@contoso.example","mode":"sync","reason":"INC-1"}`,
		`{"runId":"20260101t100000-00000000000000ab"}`,
		`{"user":"a@b.example","steps":["reset-password"],"options":{"inboxRules":{"action":"delete"}}}`,
		`{"user":"a@b.example","dry_run":true}`,
		`{"user":"a@b.example"} {"user":"c@d.example"}`,
		`{"user":"a@b.example","dryRun":true,"DryRun":false}`,
		`{"user":"a@b.example","options":{"inboxRules":{"action":"delete","action":"disable"}}}`,
		`{"user":`, `null`, `[]`, `"text"`, "\xff\xfe", `{"reason":"` + strings.Repeat("x", 300) + `"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range []func() any{
			func() any { return &startBody{} },
			func() any { return &queueMessage{} },
		} {
			v := target()
			err := decodeStrict(body, v)
			if err != nil {
				if apperr.CodeOf(err) != apperr.Invalid {
					t.Fatalf("refusal %v is not Invalid (400)", err)
				}
				if msg := err.Error(); len(msg) > 300 || strings.ContainsAny(msg, "\n\r") {
					t.Fatalf("refusal message too long or multi-line: %q", msg)
				}
				continue
			}
			// Accepted: the body is a single JSON value, and an object (or null) with known
			// fields only, so it re-encodes and decodes strictly again; no object in it holds
			// a name twice or two names differing only in letter case.
			if err := strictjson.Check(body, nil); err != nil {
				t.Fatalf("accepted %q with %v", body, err)
			}
			trimmed := bytes.TrimSpace(body)
			if !json.Valid(trimmed) && !json.Valid(firstValue(trimmed)) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			again, _ := json.Marshal(v)
			if err := decodeStrict(again, target()); err != nil {
				t.Fatalf("accepted %q but its re-encoding %s is refused: %v", body, again, err)
			}
		}
	})
}

// firstValue returns the first JSON value of b (the decoder reads one value, then checks
// that nothing follows).
func firstValue(b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	var raw json.RawMessage
	if dec.Decode(&raw) != nil {
		return nil
	}
	return raw
}
