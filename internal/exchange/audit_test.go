package exchange_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// More rows than one answer holds: the client asks for the rest with
// StartingRecipientAddress and EndDate from the last row, and gets every row exactly once.
func TestMessageTraceAsksForTheRowsAfterAFullAnswer(t *testing.T) {
	t.Parallel()
	sim, demo, c := newSimClient(t, 1000)
	end := time.Now().UTC().Truncate(time.Second)
	const extra = 7
	base := end.Add(-3 * time.Hour)
	for i := 0; i < 5000+extra; i++ {
		// Several rows share a Received time (one message, three recipients).
		sim.AddSentMessage(tenantsim.SentMessage{Sender: demo.UPN, Time: base.Add(time.Duration(i/3) * time.Second),
			Recipients: []string{fmt.Sprintf("r%05d@vendor.example", i)}})
	}
	rows, err := c.MessageTrace(context.Background(), []string{demo.UPN}, end.Add(-24*time.Hour), end)
	if err != nil {
		t.Fatal(err)
	}
	// The demo tenant's own story adds its rows of the last day, some to the same
	// recipients (two of its messages to the same two people fall in the window when the
	// test starts in the first second of a minute): only this test's rows are counted.
	seen := map[string]int{}
	for _, r := range rows {
		if strings.HasSuffix(r.RecipientAddress, "@vendor.example") && strings.HasPrefix(r.RecipientAddress, "r") {
			seen[r.RecipientAddress]++
		}
	}
	for addr, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", addr, n)
		}
	}
	if len(seen) != 5000+extra {
		t.Fatalf("%d rows, %d of this test's %d recipients", len(rows), len(seen), 5000+extra)
	}
	calls := 0
	for _, r := range sim.Requests() {
		if r.Cmdlet == "Get-MessageTraceV2" && strings.Contains(string(r.Body), "StartingRecipientAddress") {
			calls++
		}
	}
	if calls == 0 {
		t.Errorf("no follow-up query with StartingRecipientAddress")
	}
}

// Over 10 days the trace is asked for in windows the service accepts.
func TestMessageTraceSplitsLongSpansIntoTenDayWindows(t *testing.T) {
	t.Parallel()
	sim, demo, c := newSimClient(t, 1000)
	end := time.Now().UTC()
	sim.AddSentMessage(tenantsim.SentMessage{Sender: demo.UPN, Time: end.Add(-25 * 24 * time.Hour), Recipients: []string{"old@vendor.example"}})
	rows, err := c.MessageTrace(context.Background(), []string{demo.UPN}, end.Add(-30*24*time.Hour), end)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		found = found || r.RecipientAddress == "old@vendor.example"
	}
	if !found {
		t.Errorf("the message of 25 days ago is missing")
	}
}

// Search-UnifiedAuditLog sessions: each call returns the next records; AuditData is a
// string holding JSON, its ClientIP carries a port.
func TestUnifiedAuditLogReadsEveryRoundOfTheSession(t *testing.T) {
	t.Parallel()
	sim, demo, c := newSimClient(t, 1000)
	end := time.Now().UTC()
	for i := 0; i < 5003; i++ {
		sim.AddAuditRecord(tenantsim.AuditRecord{UserID: demo.UPN, Time: end.Add(-time.Duration(i+1) * time.Second), Operation: "Set-InboxRule",
			ClientIP: "[2001:db8::9]:443", Parameters: [][2]string{{"Identity", fmt.Sprint(i)}}})
	}
	recs, err := c.UnifiedAuditLog(context.Background(), demo.UPN, end.Add(-2*time.Hour), end, []string{"Set-InboxRule", "UpdateInboxRules"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Parameters["Identity"]] = true
		if r.ClientIP != "[2001:db8::9]:443" || r.Operation != "Set-InboxRule" || r.Time.IsZero() {
			t.Fatalf("record %+v", r)
		}
	}
	if len(recs) != 5003 || len(seen) != 5003 {
		t.Fatalf("%d records, %d distinct, want 5003", len(recs), len(seen))
	}
	// A bad operation name never reaches the service.
	if _, err := c.UnifiedAuditLog(context.Background(), demo.UPN, end.Add(-time.Hour), end, []string{"New-InboxRule; Remove-Mailbox"}); err == nil {
		t.Errorf("an operation with a separator was sent")
	}
}
