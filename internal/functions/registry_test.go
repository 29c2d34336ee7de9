package functions

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/catalog"
)

// TestCommittedFunctionFoldersMatchRegistry fails when a function.json in the repository
// differs from what the registry generates (run `make functions`).
func TestCommittedFunctionFoldersMatchRegistry(t *testing.T) {
	diffs, err := Check(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Fatalf("function folders out of date (run `make functions`):\n%s", strings.Join(diffs, "\n"))
	}
}

func TestRegistryHasAnHTTPAndAQueueFunctionPerStep(t *testing.T) {
	for _, step := range catalog.All {
		var http, queue bool
		for _, f := range Registry() {
			if f.Step != step {
				continue
			}
			switch f.Trigger {
			case HTTP:
				http = f.Route == "steps/"+string(step) && f.AuthLevel == "function"
			case Queue:
				queue = f.Queue == "step-"+string(step)
			}
		}
		if !http || !queue {
			t.Errorf("step %s: http function %v, queue function %v; want both", step, http, queue)
		}
	}
}

func TestFunctionJSONShapes(t *testing.T) {
	tests := []struct {
		name string
		fn   string
		want string
	}{
		{"queue trigger binds msg to the step queue", "queue-step-revoke-sessions", `{"bindings":[{"type":"queueTrigger","direction":"in","name":"msg","queueName":"step-revoke-sessions","connection":"AzureWebJobsStorage"}]}`},
		{"timer reads its schedule from a setting", "timer-sweep", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"%SWEEP_SCHEDULE%"}]}`},
		{"health is anonymous", "http-health", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"health"},{"type":"http","direction":"out","name":"res"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := Lookup(tt.fn)
			if !ok {
				t.Fatalf("no function %s", tt.fn)
			}
			got, err := f.FunctionJSON()
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tt.want), &w)
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			if string(gj) != string(wj) {
				t.Errorf("got %s\nwant %s", gj, wj)
			}
		})
	}
}
