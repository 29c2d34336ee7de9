package runs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/runs"
)

// A 30-day investigation of a busy account holds thousands of events: the findings are
// stored whole (spilled into part entities), never cut by the Table service's limits.
func TestLargeFindingsAreStoredWhole(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if err := s.Create(ctx, sampleRun("r-findings", time.Now())); err != nil {
		t.Fatal(err)
	}
	run, _ := s.Get(ctx, "r-findings")
	st := run.Step("reset-password")
	f := &runs.Findings{From: "2026-11-01T00:00:00Z", To: "2026-11-30T00:00:00Z", Unavailable: []runs.Unavailable{}, Signals: []string{"sign-in from a country not seen in the baseline: NG"},
		Summary: runs.FindingsSummary{SignIns: 5000, Countries: []string{"US", "NG"}, IPs: []string{"203.0.113.10"}, ExternalDomains: []string{}}}
	for i := 0; i < 5000; i++ {
		f.Timeline = append(f.Timeline, runs.TimelineEntry{Time: time.Date(2026, 11, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339), Source: "sign-in",
			What: "sign-in to Office 365 Exchange Online (Browser)", IP: fmt.Sprintf("2001:db8::%x", i), Location: "Zürich, Zürich, CH",
			Detail: "risk during sign-in: low; Grüße aus dem Büro " + fmt.Sprint(i)})
	}
	st.Findings, st.Status = f, runs.StepSucceeded
	if err := s.UpdateStep(ctx, "r-findings", st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "r-findings")
	if err != nil {
		t.Fatal(err)
	}
	g := got.Step("reset-password").Findings
	if g == nil || len(g.Timeline) != 5000 || fmt.Sprint(g.Timeline[4999]) != fmt.Sprint(f.Timeline[4999]) || g.Summary.SignIns != 5000 || g.Signals[0] != f.Signals[0] {
		t.Fatalf("findings did not survive the round trip: %d entries", len(g.Timeline))
	}
}
