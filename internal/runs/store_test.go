package runs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/runs/runstest"
)

var (
	tableSvc *aztables.ServiceClient
	// guard refuses, as Azure does, every entity Azurite would accept but Azure would not;
	// TestMain fails the run if any test's store tried to write one.
	guard runstest.Guard
)

func TestMain(m *testing.M) {
	inst, err := azurite.Shared(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "azurite:", err)
		os.Exit(1)
	}
	azuriteConn = inst.ConnectionString
	tableSvc, err = aztables.NewServiceClientFromConnectionString(inst.ConnectionString, guard.ClientOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "aztables:", err)
		os.Exit(1)
	}
	code := m.Run()
	for _, r := range guard.Refused() {
		fmt.Fprintln(os.Stderr, "the Table service would refuse:", r)
		code = 1
	}
	_ = inst.Stop()
	os.Exit(code)
}

var prefixes atomic.Int64

// azuriteConn is the shared Azurite, for stores built with a transport of their own.
var azuriteConn string

// failingIndex fails every write to the run index while fail is set, as a store that times
// out half-way through a Create would.
type failingIndex struct{ fail atomic.Bool }

func (f *failingIndex) Do(req *http.Request) (*http.Response, error) {
	if f.fail.Load() && strings.Contains(req.URL.Path, "RunIndex") && req.Method != http.MethodGet {
		return nil, errors.New("run index unreachable")
	}
	return http.DefaultClient.Do(req)
}

func newStore(t *testing.T) *runs.Store {
	t.Helper()
	s, _ := newStoreNamed(t)
	return s
}

// newStoreNamed returns a store and its table prefix, for tests that look at the entities.
func newStoreNamed(t *testing.T) (*runs.Store, string) {
	t.Helper()
	prefix := fmt.Sprintf("T%d%d", time.Now().UnixNano()%1e6, prefixes.Add(1))
	s, err := runs.Open(context.Background(), tableSvc, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return s, prefix
}

func sampleRun(id string, created time.Time) *runs.Run {
	return &runs.Run{
		RunID: id, Status: runs.Queued, User: runs.UserRef{ID: "11111111-1111-1111-1111-111111111111", UserPrincipalName: "Adele@contoso.example"},
		Reason: "test", CreatedAt: created, Mode: "async",
		Steps: []runs.Step{{Name: "reset-password", Status: runs.StepPending}, {Name: "unblock-sender", Status: runs.StepPending}},
	}
}

func TestCreateGetRoundTrip(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	run := sampleRun("r-roundtrip", time.Now().UTC())
	if err := s.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "r-roundtrip")
	if err != nil {
		t.Fatal(err)
	}
	if got.User.UserPrincipalName != "Adele@contoso.example" || len(got.Steps) != 2 || got.Steps[1].Name != "unblock-sender" || got.Status != runs.Queued {
		t.Fatalf("got %+v", got)
	}
	if err := s.Create(ctx, sampleRun("r-roundtrip", time.Now())); !errors.Is(err, runs.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx, "no-such-run"); !errors.Is(err, runs.ErrNotFound) {
		t.Fatalf("unknown run: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "bad' or 1 eq 1"); !errors.Is(err, runs.ErrNotFound) {
		t.Fatalf("invalid id: %v, want ErrNotFound", err)
	}
}

func TestUpdateStepIsConditional(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if err := s.Create(ctx, sampleRun("r-etag", time.Now())); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Get(ctx, "r-etag")
	b, _ := s.Get(ctx, "r-etag")
	stepA, stepB := a.Step("reset-password"), b.Step("reset-password")
	stepA.Status, stepB.Status = runs.StepRunning, runs.StepRunning
	if err := s.UpdateStep(ctx, "r-etag", stepA); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateStep(ctx, "r-etag", stepB); !errors.Is(err, runs.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
}

func TestLargeEvidenceIsSplitAcrossProperties(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if err := s.Create(ctx, sampleRun("r-large", time.Now())); err != nil {
		t.Fatal(err)
	}
	run, _ := s.Get(ctx, "r-large")
	st := run.Step("reset-password")
	big := strings.Repeat("é rule body ", 12000) // ~150 KB, multi-byte characters
	st.Changes = []runs.Change{{Action: "disabled", Target: "rule", Before: map[string]any{"Description": big}}}
	st.Status = runs.StepSucceeded
	if err := s.UpdateStep(ctx, "r-large", st); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "r-large")
	desc := got.Step("reset-password").Changes[0].Before.(map[string]any)["Description"]
	if desc != big {
		t.Fatalf("evidence did not survive the round trip (len %d, want %d)", len(fmt.Sprint(desc)), len(big))
	}
}

func TestClaimKeyOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var claimed atomic.Int64
	holders := make([]runs.KeyHolder, 8)
	for i := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, ok, err := s.ClaimKey(ctx, "run", "INC-1", runs.KeyHolder{RunID: fmt.Sprintf("run-%d", i), Fingerprint: fmt.Sprintf("fp-%d", i)})
			if err != nil {
				t.Error(err)
			}
			if ok {
				claimed.Add(1)
			}
			holders[i] = h
		}()
	}
	wg.Wait()
	if claimed.Load() != 1 {
		t.Fatalf("%d claims succeeded, want 1", claimed.Load())
	}
	for _, h := range holders {
		if h != holders[0] || h.Fingerprint != "fp-"+strings.TrimPrefix(h.RunID, "run-") {
			t.Fatalf("holders disagree, or a fingerprint is not its run's: %v", holders)
		}
	}
	looked, found, err := s.LookupKey(ctx, "run", "INC-1")
	if err != nil || !found || looked != holders[0] {
		t.Fatalf("LookupKey %+v %v %v, want %+v", looked, found, err, holders[0])
	}
}

func TestReserveNeverExceedsTheLimitUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 18, 30, 0, 0, time.UTC)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, retry, err := s.Reserve(ctx, runs.ChangeLimit, now, 5)
			if err != nil {
				t.Error(err)
			}
			if got != nil {
				ok.Add(1)
			} else if want := time.Hour + 10*time.Second; retry != want {
				t.Errorf("retryAfter = %v, want %v", retry, want)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Fatalf("%d reservations granted, want 5", ok.Load())
	}
	// The other limit is a counter of its own.
	if got, _, err := s.Reserve(ctx, runs.RequestLimit, now, 5); err != nil || got == nil {
		t.Fatalf("request limit: %v %v", got, err)
	}
}

// The window slides: a limit reached at 10:59 still holds at 11:00 (a clock-hour counter
// would grant max more), and frees when the oldest slot is an hour old.
func TestReserveWindowSlidesAcrossTheHour(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	first := time.Date(2026, 11, 25, 10, 59, 30, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if got, _, err := s.Reserve(ctx, runs.ChangeLimit, first.Add(time.Duration(i)*10*time.Second), 3); err != nil || got == nil {
			t.Fatalf("reservation %d: %v %v", i, got, err)
		}
	}
	at := time.Date(2026, 11, 25, 11, 0, 30, 0, time.UTC)
	got, retry, err := s.Reserve(ctx, runs.ChangeLimit, at, 3)
	if err != nil || got != nil {
		t.Fatalf("at 11:00:30: granted %v (%v): the window did not slide", got, err)
	}
	if want := first.Add(time.Hour + 10*time.Second).Sub(at); retry != want {
		t.Fatalf("retryAfter %v, want %v (when the 10:59:30 slot leaves the window)", retry, want)
	}
	if got, _, _ := s.Reserve(ctx, runs.ChangeLimit, at.Add(retry-time.Second), 3); got != nil {
		t.Fatal("granted before the oldest slot left the window")
	}
	if got, _, err := s.Reserve(ctx, runs.ChangeLimit, at.Add(retry), 3); err != nil || got == nil {
		t.Fatalf("not granted once the oldest slot left the window: %v", err)
	}
	if got, _, _ := s.Reserve(ctx, runs.ChangeLimit, at.Add(retry), 3); got != nil {
		t.Fatal("granted a fourth slot in one window")
	}
}

func TestGiveBackFreesTheSlot(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r, _, err := s.Reserve(ctx, runs.ChangeLimit, now, 1)
	if err != nil || r == nil {
		t.Fatalf("reserve: %v %v", r, err)
	}
	if again, _, _ := s.Reserve(ctx, runs.ChangeLimit, now, 1); again != nil {
		t.Fatal("a second slot of one")
	}
	if err := s.GiveBack(ctx, r); err != nil {
		t.Fatal(err)
	}
	if again, _, err := s.Reserve(ctx, runs.ChangeLimit, now.Add(time.Minute), 1); err != nil || again == nil {
		t.Fatalf("the given-back slot was not free: %v", err)
	}
	if err := s.GiveBack(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestListByUserNewestFirst(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	base := time.Now().UTC()
	for i := 0; i < 3; i++ {
		if err := s.Create(ctx, sampleRun(fmt.Sprintf("r-list-%d", i), base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"adele@CONTOSO.example", "11111111-1111-1111-1111-111111111111"} {
		list, err := s.ListByUser(ctx, key, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].RunID != "r-list-2" || list[2].RunID != "r-list-0" {
			ids := []string{}
			for _, r := range list {
				ids = append(ids, r.RunID)
			}
			t.Fatalf("by %s: %v, want newest first", key, ids)
		}
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		name   string
		dry    bool
		status []runs.StepStatus
		want   runs.Status
	}{
		{"all succeeded", false, []runs.StepStatus{runs.StepSucceeded, runs.StepNoChange}, runs.Succeeded},
		{"one not final", false, []runs.StepStatus{runs.StepSucceeded, runs.StepRunning}, ""},
		{"failed wins", false, []runs.StepStatus{runs.StepFailed, runs.StepActionRequired, runs.StepSkipped}, runs.Failed},
		{"action required", false, []runs.StepStatus{runs.StepActionRequired, runs.StepSucceeded, runs.StepSkipped}, runs.ActionRequired},
		{"dry run", true, []runs.StepStatus{runs.StepPlanned, runs.StepNoChange}, runs.Planned},
		{"dry run that would need a person", true, []runs.StepStatus{runs.StepActionRequired, runs.StepPlanned, runs.StepSkipped}, runs.Planned},
		{"dry run whose read failed", true, []runs.StepStatus{runs.StepFailed, runs.StepPlanned}, runs.Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &runs.Run{DryRun: tt.dry}
			for i, st := range tt.status {
				r.Steps = append(r.Steps, runs.Step{Name: fmt.Sprint(i), Status: st})
			}
			if got, _ := r.Outcome(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestARunWhoseIndexWriteFailedIsListedOnceRecorded: the index write of a Create fails; the
// Create fails without recording the run, so the start is retried and the run, once
// recorded, is in its user's list. (Written after the run, as before, a failed index write
// left a run that no list would ever show: a redelivered start replays the run.)
func TestARunWhoseIndexWriteFailedIsListedOnceRecorded(t *testing.T) {
	t.Parallel()
	tr := &failingIndex{}
	svc, err := aztables.NewServiceClientFromConnectionString(azuriteConn, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := runs.Open(context.Background(), svc, fmt.Sprintf("T%d%d", time.Now().UnixNano()%1e6, prefixes.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tr.fail.Store(true)
	if err := s.Create(ctx, sampleRun("r-index", time.Now().UTC())); !errors.Is(err, runs.ErrUnavailable) {
		t.Fatalf("Create with the index down: %v, want ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, "r-index"); !errors.Is(err, runs.ErrNotFound) {
		t.Fatalf("the run was recorded although its index entry was not: %v", err)
	}
	tr.fail.Store(false)
	if err := s.Create(ctx, sampleRun("r-index", time.Now().UTC())); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListByUser(ctx, "adele@contoso.example", 10); err != nil || len(list) != 1 {
		t.Fatalf("list %v (%v), want the run", list, err)
	}
}

// TestARunIsListedOnceWhateverItsCreateAttempts: Create writes the index entries before the
// run, so a run is never recorded without them; a second Create of the same run (a start
// retried after a store failure, at a later time) leaves a second entry, and the run is
// still listed once.
func TestARunIsListedOnceWhateverItsCreateAttempts(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	base := time.Now().UTC()
	if err := s.Create(ctx, sampleRun("r-twice", base)); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, sampleRun("r-twice", base.Add(time.Second))); !errors.Is(err, runs.ErrConflict) {
		t.Fatalf("second Create: %v, want ErrConflict", err)
	}
	list, err := s.ListByUser(ctx, "adele@contoso.example", 10)
	if err != nil || len(list) != 1 || list[0].RunID != "r-twice" {
		t.Fatalf("list %v (%v), want the run once", list, err)
	}
}
