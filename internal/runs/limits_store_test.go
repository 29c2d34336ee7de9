package runs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/runs/runstest"
)

// TestGuardRefusesWhatAzureRefuses checks the test guard itself: each write the Table
// service refuses is refused (400, not sent), and the largest writes it accepts pass.
func TestGuardRefusesWhatAzureRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inst, err := azurite.Shared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var g runstest.Guard
	svc, err := aztables.NewServiceClientFromConnectionString(inst.ConnectionString, g.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("Probe%d%d", time.Now().UnixNano()%1e6, prefixes.Add(1))
	if _, err := svc.CreateTable(ctx, table, nil); err != nil {
		t.Fatal(err)
	}
	client := svc.NewClient(table)
	props := func(n, size int) map[string]any {
		m := map[string]any{"PartitionKey": "p", "RowKey": fmt.Sprint(n, "-", size)}
		for i := 0; i < n; i++ {
			m[fmt.Sprintf("P%d", i)] = strings.Repeat("a", size)
		}
		return m
	}
	tests := []struct {
		name   string
		entity map[string]any
		refuse bool
	}{
		{"guest UPN as partition key", map[string]any{"PartitionKey": "u:adele_fabrikam.example#EXT#@contoso.onmicrosoft.com", "RowKey": "x"}, true},
		{"slash in row key", map[string]any{"PartitionKey": "p", "RowKey": "a/b"}, true},
		{"backslash", map[string]any{"PartitionKey": `a\b`, "RowKey": "x"}, true},
		{"question mark", map[string]any{"PartitionKey": "p", "RowKey": "a?b"}, true},
		{"control character", map[string]any{"PartitionKey": "p", "RowKey": "a\x01b"}, true},
		{"C1 control character", map[string]any{"PartitionKey": "p", "RowKey": "a\u0085b"}, true},
		{"key of 513 UTF-16 units", map[string]any{"PartitionKey": strings.Repeat("k", 513), "RowKey": "x"}, true},
		{"key of 512 UTF-16 units", map[string]any{"PartitionKey": strings.Repeat("k", 512), "RowKey": "x"}, false},
		{"apostrophe, plus, tilde, non-ASCII in a key", map[string]any{"PartitionKey": "o'brien+x~ü", "RowKey": "x"}, false},
		// 32,769 ASCII characters are 32,769 bytes of UTF-8 but 65,538 of UTF-16.
		{"string of 32,769 ASCII characters", props(1, 32769), true},
		{"string of 32,768 ASCII characters", props(1, 32768), false},
		{"string of 16,385 emoji (32,770 units)", map[string]any{"PartitionKey": "p", "RowKey": "emoji", "P": strings.Repeat("💸", 16385)}, true},
		{"253 properties", props(253, 1), true},
		{"252 properties", props(252, 1), false},
		{"entity over 1 MiB", props(17, 32000), true},
		{"entity just under 1 MiB", props(16, 32000), false},
	}
	for _, tt := range tests {
		data, _ := json.Marshal(tt.entity)
		_, err := client.UpsertEntity(ctx, data, nil)
		var re *azcore.ResponseError
		refused := errors.As(err, &re) && re.StatusCode == 400
		if refused != tt.refuse || (err != nil && !refused) {
			t.Errorf("%s: err = %v, want refused %v", tt.name, err, tt.refuse)
		}
	}
	// A batch is checked operation by operation.
	good, _ := json.Marshal(map[string]any{"PartitionKey": "b", "RowKey": "1"})
	bad, _ := json.Marshal(map[string]any{"PartitionKey": "b", "RowKey": "2#"})
	_, err = client.SubmitTransaction(ctx, []aztables.TransactionAction{
		{ActionType: aztables.TransactionTypeAdd, Entity: good}, {ActionType: aztables.TransactionTypeAdd, Entity: bad},
	}, nil)
	if err == nil {
		t.Error("a transaction holding a key with '#' was accepted")
	}
	if n := len(g.Refused()); n != 12 {
		t.Errorf("guard refused %d writes, want 12: %q", n, g.Refused())
	}
}

// Entra ID user principal names: letters, digits and ' . - _ ! # ^ ~ before the @, and guests
// as name_domain#EXT#@tenant.onmicrosoft.com.
var unusualUsers = []runs.UserRef{
	{ID: "0a0a0a0a-0000-4000-8000-000000000001", UserPrincipalName: "adele.vance_fabrikam.example#EXT#@contoso.onmicrosoft.com"},
	{ID: "0a0a0a0a-0000-4000-8000-000000000002", UserPrincipalName: "o'brien@contoso.example"},
	{ID: "0a0a0a0a-0000-4000-8000-000000000003", UserPrincipalName: "a!b#c^d~e_f-g@contoso.example"},
	{ID: "0a0a0a0a-0000-4000-8000-000000000004", UserPrincipalName: "Jean-Luc.D'Arcy_partner.example#EXT#@contoso.onmicrosoft.com"},
}

func TestGuestsAndUnusualIdentifiersAreListedByUPNAndID(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	for i, u := range unusualUsers {
		r := sampleRun(fmt.Sprintf("r-unusual-%d", i), time.Now().UTC())
		r.User = u
		if err := s.Create(ctx, r); err != nil {
			t.Fatalf("%s: %v", u.UserPrincipalName, err)
		}
	}
	for i, u := range unusualUsers {
		want := fmt.Sprintf("r-unusual-%d", i)
		for _, key := range []string{u.UserPrincipalName, strings.ToUpper(u.UserPrincipalName), u.ID} {
			list, err := s.ListByUser(ctx, key, 10)
			if err != nil {
				t.Fatalf("by %q: %v", key, err)
			}
			if len(list) != 1 || list[0].RunID != want || list[0].User.UserPrincipalName != u.UserPrincipalName {
				t.Errorf("by %q: %d runs, want only %s", key, len(list), want)
			}
		}
	}
}

func TestIdempotencyKeysOfAnyTextAreClaimed(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	for i, key := range []string{
		"INC/4711#a?b\\c", "tab\tnewline\n\x00nul\u0085", strings.Repeat("ü💸", 20000), "adele_fabrikam.example#EXT#@contoso.onmicrosoft.com",
	} {
		runID := fmt.Sprintf("r-key-%d", i)
		if holder, claimed, err := s.ClaimKey(ctx, "run", key, runs.KeyHolder{RunID: runID}); err != nil || !claimed || holder.RunID != runID {
			t.Fatalf("claim %d: %q %v %v", i, holder, claimed, err)
		}
		if holder, claimed, err := s.ClaimKey(ctx, "run", key, runs.KeyHolder{RunID: "other"}); err != nil || claimed || holder.RunID != runID {
			t.Fatalf("second claim %d: %q %v %v", i, holder, claimed, err)
		}
		if got, found, err := s.LookupKey(ctx, "run", key); err != nil || !found || got.RunID != runID {
			t.Fatalf("lookup %d: %q %v %v", i, got, found, err)
		}
		if err := s.ReleaseKey(ctx, "run", key); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := s.LookupKey(ctx, "run", key); found {
			t.Fatalf("key %d still held after release", i)
		}
	}
}

// largeEvidence is what remove-inbox-rules records for a mailbox with many rules: each rule's
// full definition, with long descriptions in several scripts.
func largeEvidence(rules, descBytes int, tag string) []runs.Change {
	var out []runs.Change
	for i := 0; i < rules; i++ {
		desc := strings.Repeat(fmt.Sprintf("If the message includes 'Überweisung' or '付款' %s %d 💸 then move it to RSS Feeds. ", tag, i), descBytes/90+1)
		out = append(out, runs.Change{
			Action: "disabled", Target: fmt.Sprintf(`user@contoso.example\%d ("Überweisung %d 付款")`, i, i),
			Before:  map[string]any{"Name": fmt.Sprintf("Überweisung %d 付款 💸", i), "Description": desc, "Enabled": true, "Priority": float64(i + 1)},
			Reasons: []string{"moves mail to RSS Feeds", "matches payment words"},
		})
	}
	return out
}

// partitionRowKeys lists the row keys of a run's partition.
func partitionRowKeys(t *testing.T, prefix, runID string) []string {
	t.Helper()
	filter := fmt.Sprintf("PartitionKey eq '%s'", runID)
	sel := "RowKey"
	pager := tableSvc.NewClient(prefix + "Runs").NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel})
	var out []string
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Entities {
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			out = append(out, m["RowKey"].(string))
		}
	}
	return out
}

func parts(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.Contains(k, "~") {
			out = append(out, k)
		}
	}
	return out
}

func TestLargeEvidenceIsStoredWhole(t *testing.T) {
	t.Parallel()
	s, prefix := newStoreNamed(t)
	ctx := context.Background()
	if err := s.Create(ctx, sampleRun("r-evidence", time.Now())); err != nil {
		t.Fatal(err)
	}
	run, _ := s.Get(ctx, "r-evidence")
	st := run.Step("reset-password")
	st.Changes = largeEvidence(500, 5000, "v1")
	st.Status = runs.StepSucceeded
	if err := s.UpdateStep(ctx, "r-evidence", st); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(st.Changes)
	first := parts(partitionRowKeys(t, prefix, "r-evidence"))
	t.Logf("evidence of 500 rules: %d bytes UTF-8, %d bytes UTF-16, in %d part entities", len(doc), 2*len(utf16.Encode([]rune(string(doc)))), len(first))
	if len(first) < 3 {
		t.Fatalf("evidence of %d bytes stored in %d parts, want it spread over several entities", len(doc), len(first))
	}

	got, err := s.Get(ctx, "r-evidence")
	if err != nil {
		t.Fatal(err)
	}
	if gotDoc, _ := json.Marshal(got.Step("reset-password").Changes); string(gotDoc) != string(doc) {
		t.Fatalf("evidence changed on the way: %d bytes back, %d written", len(gotDoc), len(doc))
	}

	// Bookkeeping updates keep the evidence's parts as they are.
	st = got.Step("reset-password")
	st.Attempts++
	if err := s.UpdateStep(ctx, "r-evidence", st); err != nil {
		t.Fatal(err)
	}
	if again := parts(partitionRowKeys(t, prefix, "r-evidence")); !reflect.DeepEqual(again, first) {
		t.Fatalf("unchanged evidence rewritten: parts %v, were %v", again, first)
	}
	// New evidence replaces the parts; the old ones are deleted.
	st.Changes = largeEvidence(300, 5000, "v2")
	if err := s.UpdateStep(ctx, "r-evidence", st); err != nil {
		t.Fatal(err)
	}
	now := parts(partitionRowKeys(t, prefix, "r-evidence"))
	for _, p := range now {
		for _, old := range first {
			if p == old {
				t.Fatalf("old part %s left behind", p)
			}
		}
	}
	if got, err = s.Get(ctx, "r-evidence"); err != nil {
		t.Fatal(err)
	}
	if c := got.Step("reset-password").Changes; len(c) != 300 || !strings.Contains(c[299].Before.(map[string]any)["Description"].(string), "v2 299") {
		t.Fatalf("got %d changes after the second update", len(c))
	}
}

// A stale writer's evidence never lands, never damages the winner's, and a reader never sees
// a half-written record.
func TestConcurrentEvidenceWritesKeepOneWholeRecord(t *testing.T) {
	t.Parallel()
	s, prefix := newStoreNamed(t)
	ctx := context.Background()
	if err := s.Create(ctx, sampleRun("r-race", time.Now())); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Get(ctx, "r-race")
	b, _ := s.Get(ctx, "r-race")
	a.Step("reset-password").Changes = largeEvidence(200, 5000, "A")
	b.Step("reset-password").Changes = largeEvidence(200, 5000, "B")
	if err := s.UpdateStep(ctx, "r-race", a.Step("reset-password")); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateStep(ctx, "r-race", b.Step("reset-password")); !errors.Is(err, runs.ErrConflict) {
		t.Fatalf("stale write: %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, "r-race")
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Step("reset-password").Changes; len(c) != 200 || !strings.Contains(c[0].Before.(map[string]any)["Description"].(string), " A 0 ") {
		t.Fatalf("the winner's evidence is not what is read back")
	}
	want := len(parts(partitionRowKeys(t, prefix, "r-race")))
	doc, _ := json.Marshal(a.Step("reset-password").Changes)
	if perPart := 16 * 32000; want != (len(utf16.Encode([]rune(string(doc))))+perPart-1)/perPart {
		t.Fatalf("%d parts in the partition: the loser's parts were not removed", want)
	}
}

// The run's own caller-supplied fields (reason, idempotency key, options) and its error and
// restorations are stored whole too.
func TestLargeRunFieldsAreStoredWhole(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	r := sampleRun("r-fields", time.Now().UTC())
	r.Reason = strings.Repeat("Ticket INC-4711: Überweisung an 付款 💸\n", 8000)
	r.IdempotencyKey = strings.Repeat("#/?\\", 30000)
	r.Options = json.RawMessage(`{"inboxRules":{"action":"disable"}` + strings.Repeat(" ", 300000) + `}`)
	r.RequestedBy = "analyst@contoso.example"
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Error = &runs.Error{Code: "x", Message: strings.Repeat("ошибка ", 20000)}
	r.Restorations = []runs.Restoration{{At: time.Now().UTC(), Status: "succeeded", Changes: largeEvidence(100, 4000, "restore")}}
	if err := s.UpdateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "r-fields")
	if err != nil {
		t.Fatal(err)
	}
	if got.Reason != r.Reason || got.IdempotencyKey != r.IdempotencyKey || string(got.Options) != string(r.Options) || got.Error.Message != r.Error.Message {
		t.Fatalf("a run field changed on the way (reason %d/%d, key %d/%d, options %d/%d)", len(got.Reason), len(r.Reason), len(got.IdempotencyKey), len(r.IdempotencyKey), len(got.Options), len(r.Options))
	}
	gotRest, _ := json.Marshal(got.Restorations)
	wantRest, _ := json.Marshal(r.Restorations)
	if string(gotRest) != string(wantRest) {
		t.Fatalf("restorations changed on the way: %d bytes, want %d", len(gotRest), len(wantRest))
	}
}
