package runs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/throttle"
)

// The tests here tamper with the tables as someone who can write to the storage account
// would, and check that a planted coordination value cannot hold containment back
// (contract section 6: bounded coordination values).

// plant writes an entity straight into one of the store's tables, past the store.
func plant(t *testing.T, prefix, table string, props map[string]any) {
	t.Helper()
	e, err := json.Marshal(props)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tableSvc.NewClient(prefix+table).UpsertEntity(context.Background(), e, nil); err != nil {
		t.Fatalf("plant %s %v/%v: %v", table, props["PartitionKey"], props["RowKey"], err)
	}
}

// syncBuffer collects a store's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// loggedStore is a fresh store whose log is returned.
func loggedStore(t *testing.T) (*runs.Store, string, *syncBuffer) {
	t.Helper()
	s, prefix := newStoreNamed(t)
	var buf syncBuffer
	s.Log = slog.New(slog.NewTextHandler(&buf, nil))
	return s, prefix, &buf
}

func TestPlantedSharedNotBeforeIsIgnored(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	tests := []struct {
		name    string
		planted time.Time
		honour  bool
	}{
		{"a Retry-After the handler could have written", now.Add(2 * time.Minute), true},
		{"a day ahead", now.Add(24 * time.Hour), false},
		{"in 2099", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, prefix, logs := loggedStore(t)
			ctx := context.Background()
			plant(t, prefix, "Limits", map[string]any{"PartitionKey": "throttle", "RowKey": "graph",
				"NotBefore": tt.planted.Format(time.RFC3339Nano)})
			at, err := s.NotBefore(ctx, "graph")
			if err != nil {
				t.Fatal(err)
			}
			if tt.honour {
				if !at.Equal(tt.planted) {
					t.Fatalf("not before %v, want the stored %v", at, tt.planted)
				}
				return
			}
			if !at.IsZero() {
				t.Fatalf("a planted not before of %v holds every call back until %v", tt.planted, at)
			}
			if !strings.Contains(logs.String(), "throttle/graph") || !strings.Contains(logs.String(), tt.planted.Format("2006-01-02T15:04:05")) {
				t.Errorf("the ignored value was not logged: %q", logs.String())
			}
			// The next real Retry-After replaces the planted row instead of deferring to it.
			real := time.Now().Add(3 * time.Second).UTC().Truncate(time.Millisecond)
			if inForce, err := s.HoldUntil(ctx, "graph", real); err != nil || !inForce.Equal(real) {
				t.Fatalf("HoldUntil after the planted value: %v %v, want %v", inForce, err, real)
			}
			if at, err := s.NotBefore(ctx, "graph"); err != nil || !at.Equal(real) {
				t.Fatalf("not before %v (%v) after HoldUntil, want %v", at, err, real)
			}
		})
	}
}

// TestHoldUntilWritesNoFurtherThanItsBound: the store never writes a "not before" it
// would not believe when it reads it back.
func TestHoldUntilWritesNoFurtherThanItsBound(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	inForce, err := s.HoldUntil(ctx, "exchange", time.Now().Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if limit := time.Now().Add(5 * time.Minute); inForce.After(limit) {
		t.Fatalf("HoldUntil wrote %v, past the 5-minute bound (%v)", inForce, limit)
	}
	if at, err := s.NotBefore(ctx, "exchange"); err != nil || !at.Equal(inForce) {
		t.Fatalf("read back %v (%v), want the written %v", at, err, inForce)
	}
}

// TestPlantedNotBeforeDoesNotHoldTheGateBack: the shared throttle over a store whose
// "not before" row was planted in 2099 still lets calls through.
func TestPlantedNotBeforeDoesNotHoldTheGateBack(t *testing.T) {
	t.Parallel()
	s, prefix, _ := loggedStore(t)
	plant(t, prefix, "Limits", map[string]any{"PartitionKey": "throttle", "RowKey": "exchange",
		"NotBefore": "2099-01-01T00:00:00Z"})
	gate := &throttle.Gate{Service: "exchange", Shared: s, CacheFor: time.Millisecond}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) { // give the background refresh time to read the row
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := gate.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("the gate holds calls back for a planted not before: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if held, _ := gate.Stats(); held != 0 {
		t.Fatalf("%d calls held back", held)
	}
}

func TestPlantedLockExpiryIsIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		expires string
		typed   bool // written as Edm.DateTime, as Lock writes it
		taken   bool
	}{
		{"a holder's ttl, not over yet", time.Now().Add(20 * time.Second).UTC().Format(time.RFC3339Nano), true, false},
		{"a day ahead", time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339Nano), true, true},
		{"in 2099", "2099-01-01T00:00:00Z", true, true},
		{"in 2099, as a string", "2099-01-01T00:00:00Z", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, prefix, logs := loggedStore(t)
			props := map[string]any{"PartitionKey": "lock", "RowKey": "global-administrator-removal", "Holder": "planted", "Expires": tt.expires}
			if tt.typed {
				props["Expires@odata.type"] = "Edm.DateTime"
			}
			plant(t, prefix, "Limits", props)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			release, err := s.Lock(ctx, "global-administrator-removal", "run-a", 500*time.Millisecond)
			if !tt.taken {
				if err == nil {
					t.Fatal("took a lock whose holder's ttl is not over")
				}
				return
			}
			if err != nil {
				t.Fatalf("a planted expiry (%s) keeps the lock from everyone: %v", tt.expires, err)
			}
			release()
			if !strings.Contains(logs.String(), "lock/global-administrator-removal") {
				t.Errorf("the ignored expiry was not logged: %q", logs.String())
			}
		})
	}
	if _, err := newStore(t).Lock(context.Background(), "too-long", "run", runs.MaxLockTTL+time.Second); err == nil {
		t.Error("Lock took a ttl longer than MaxLockTTL, an expiry it would not believe")
	}
}

func TestPlantedRateLimitBucketsAreIgnored(t *testing.T) {
	t.Parallel()
	now := time.Now()
	current := now.UnixNano() / int64(10*time.Second)
	tests := []struct {
		name    string
		buckets string
		refused bool
	}{
		{"slots the handler took this minute", fmt.Sprintf(`{"%d":3}`, current-3), true},
		{"a bucket a day ahead", fmt.Sprintf(`{"%d":1000}`, current+8640), false},
		{"a bucket in 2099", fmt.Sprintf(`{"%d":1}`, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()/int64(10*time.Second)), false},
		{"a negative count", fmt.Sprintf(`{"%d":-1000,"%d":3}`, current-1, current-2), true},
		{"buckets that do not decode", `{"soon":"many"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, prefix, logs := loggedStore(t)
			ctx := context.Background()
			plant(t, prefix, "Limits", map[string]any{"PartitionKey": "window", "RowKey": string(runs.ChangeLimit), "Buckets": tt.buckets})
			slot, retryAfter, err := s.Reserve(ctx, runs.ChangeLimit, now, 3)
			if err != nil {
				t.Fatalf("a planted window refuses every run: %v", err)
			}
			if tt.refused {
				if slot != nil || retryAfter > time.Hour+10*time.Second {
					t.Fatalf("reservation %v, retry after %v; want refused for at most an hour", slot, retryAfter)
				}
				return
			}
			if slot == nil {
				t.Fatalf("a planted window (%s) refuses runs for %v", tt.buckets, retryAfter)
			}
			if !strings.Contains(logs.String(), "window") {
				t.Errorf("the ignored window was not logged: %q", logs.String())
			}
			// The planted buckets are gone: two more slots, and the third is refused.
			for i := 0; i < 2; i++ {
				if slot, _, err := s.Reserve(ctx, runs.ChangeLimit, now, 3); slot == nil || err != nil {
					t.Fatalf("slot %d: %v %v", i+2, slot, err)
				}
			}
			if slot, _, err := s.Reserve(ctx, runs.ChangeLimit, now, 3); slot != nil || err != nil {
				t.Fatalf("a fourth slot of three: %v %v", slot, err)
			}
		})
	}
}

// TestPlantedRowsDoNotStarveRecovery: rows that cannot be a run's (a partition that is no
// run id), planted to sort before every real run, do not use up the recovery listings'
// budget: the real stalled and unfinished runs are still listed.
func TestPlantedRowsDoNotStarveRecovery(t *testing.T) {
	t.Parallel()
	s, prefix := newStoreNamed(t)
	ctx := context.Background()
	now := time.Now().UTC()
	old := now.Add(-time.Hour)
	const budget = 10
	for i := 0; i < budget+2; i++ {
		for _, pk := range []string{fmt.Sprintf("!planted-%02d", i), fmt.Sprintf("A-PLANTED-%02d", i)} {
			plant(t, prefix, "Runs", map[string]any{"PartitionKey": pk, "RowKey": "run", "Status": "queued",
				"CreatedAt": old.Format(time.RFC3339Nano)})
			plant(t, prefix, "Runs", map[string]any{"PartitionKey": pk, "RowKey": "step-reset-password", "Status": "running",
				"LeaseUntil": old.Format(time.RFC3339Nano)})
		}
	}
	run := sampleRun("r-real-stalled", old)
	run.Status = runs.Running
	run.Steps[0].Status = runs.StepRunning
	run.Steps[0].LeaseUntil = now.Add(-time.Minute)
	if err := s.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	for name, list := range map[string]func() ([]string, error){
		"Stalled":    func() ([]string, error) { return s.Stalled(ctx, now, budget) },
		"Unfinished": func() ([]string, error) { return s.Unfinished(ctx, now.Add(-20*time.Minute), budget) },
	} {
		ids, err := list()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(ids) != 1 || ids[0] != "r-real-stalled" {
			t.Errorf("%s listed %v, want only the real run", name, ids)
		}
	}
}
