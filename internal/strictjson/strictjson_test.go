package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

type inner struct {
	Action string `json:"action,omitempty"`
}

type options struct {
	InboxRules inner `json:"inboxRules"`
}

type request struct {
	User    string          `json:"user"`
	Steps   []string        `json:"steps"`
	DryRun  bool            `json:"dryRun"`
	Options json.RawMessage `json:"options"`
	Typed   *options        `json:"typed"`
	List    []inner         `json:"list"`
	Labels  map[string]any  `json:"labels"`
	ignored string
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		wantErr string // "" accepts
	}{
		{"plain", `{"user":"a@b.example","dryRun":true,"steps":["x"]}`, ""},
		{"escaped name is the same name", `{"dry\u0052un":true}`, ""},
		{"duplicate name", `{"dryRun":true,"dryRun":false}`, "duplicate"},
		{"names differing in case", `{"dryRun":true,"DryRun":false}`, "letter case"},
		{"case variant alone", `{"DryRun":false}`, "case-sensitive"},
		{"unicode folding (long s)", `{"\u017fteps":["x"]}`, "case-sensitive"},
		{"unknown field", `{"dry_run":true}`, "unknown field"},
		{"duplicate inside raw options", `{"options":{"inboxRules":{"action":"disable","action":"delete"}}}`, "duplicate"},
		{"case variants inside raw options", `{"options":{"a":1,"A":2}}`, "letter case"},
		{"typed nested case variant", `{"typed":{"inboxRules":{"Action":"delete"}}}`, "case-sensitive"},
		{"typed nested exact", `{"typed":{"inboxRules":{"action":"delete"}}}`, ""},
		{"in an array of objects", `{"list":[{"action":"a"},{"action":"a","ACTION":"b"}]}`, "letter case"},
		{"map keys are free but unique", `{"labels":{"Any":1,"other":{"x":1}}}`, ""},
		{"map keys differing in case", `{"labels":{"k":1,"K":2}}`, "letter case"},
		{"kelvin sign folds to k", `{"labels":{"k":1,"\u212a":2}}`, "letter case"},
		{"unexported field is unknown", `{"ignored":"x"}`, "unknown field"},
		{"two values", `{"user":"a"} {"user":"b"}`, "more than one"},
		{"too deep", `{"labels":{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`, "deeper"},
		{"syntax error", `{"user":`, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got request
			err := Decode([]byte(tt.body), &got)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted %s as %+v", tt.body, got)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckWithoutATypeOnlyRefusesDuplicates(t *testing.T) {
	t.Parallel()
	if err := Check([]byte(`{"Anything":{"goes":[1,{"x":2}]}}`), nil); err != nil {
		t.Fatal(err)
	}
	if err := Check([]byte(`[{"x":1,"X":2}]`), nil); err == nil {
		t.Fatal("case variants inside an array accepted")
	}
}
