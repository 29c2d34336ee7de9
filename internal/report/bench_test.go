package report

import (
	"fmt"
	"io"
	"testing"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// BenchmarkRenderFiveHundredRules renders the page of a run whose remove-inbox-rules step
// disabled 500 rules, each with its full definition and reasons (a large mailbox).
func BenchmarkRenderFiveHundredRules(b *testing.B) {
	changes := make([]runs.Change, 500)
	for i := range changes {
		changes[i] = runs.Change{
			Action: "disabled", Target: fmt.Sprintf(`adele.vance@contoso.example\%d ("Rule %d")`, 17354722591129731077+uint64(i), i),
			Before: map[string]any{"Name": fmt.Sprintf("Rule %d <b>", i), "Enabled": true, "ForwardTo": []string{"exfil@evil.example"},
				"SubjectOrBodyContainsWords": []string{"invoice", "payment"}, "Priority": i, "DeleteMessage": true},
			After:   map[string]any{"Enabled": false},
			Reasons: []string{"forwards to external address exfil@evil.example", "deletes messages", "matches payment-fraud or cover-up words: invoice, payment"},
		}
	}
	run := demoRunOf(changes)
	b.ReportAllocs()
	for b.Loop() {
		if err := Render(io.Discard, run, Options{BaseURL: "https://tq.example"}); err != nil {
			b.Fatal(err)
		}
	}
}

func demoRunOf(changes []runs.Change) *runs.Run {
	return &runs.Run{
		RunID: "r-500", Status: runs.Succeeded, Reason: "INC-500", RequestedBy: "analyst@contoso.com",
		User:  runs.UserRef{ID: "u-1", UserPrincipalName: "adele.vance@contoso.example"},
		Steps: []runs.Step{{Name: string(catalog.RemoveInboxRules), Status: runs.StepSucceeded, Attempts: 1, Changes: changes}},
	}
}
