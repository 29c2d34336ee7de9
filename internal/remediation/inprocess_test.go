package remediation_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// hookedTables is a table service behind a proxy that calls before ahead of the nth write
// (1 = the first) of the step entity named rowKey. before answers the request itself when
// it returns true; otherwise the request goes on to Azurite.
func hookedTables(t *testing.T, rowKey string, nth int, before func(w http.ResponseWriter, r *http.Request) bool) *aztables.ServiceClient {
	t.Helper()
	var (
		mu     sync.Mutex
		writes int
	)
	return proxiedTables(t, func(w http.ResponseWriter, r *http.Request, azurite http.Handler) {
		handled := false
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "RowKey='"+rowKey+"'") {
			mu.Lock()
			writes++
			this := writes
			mu.Unlock()
			if this == nth {
				handled = before(w, r)
			}
		}
		if !handled {
			azurite.ServeHTTP(w, r)
		}
	})
}

// A sync run's step claims itself while it starts reading, from the run as created. When
// that claim is refused (the record changed in between), the step has changed nothing,
// and it claims again from the stored record: here the record is as it was, so the step
// runs once.
func TestSyncStepWhoseClaimFromMemoryIsRefusedClaimsFromTheRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	svc := hookedTables(t, "step-remove-forwarding", 1, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPreconditionFailed)
		fmt.Fprint(w, `{"odata.error":{"code":"UpdateConditionNotSatisfied","message":{"lang":"en-US","value":"The update condition specified in the request was not satisfied."}}}`)
		return true
	})
	store, err := runs.Open(context.Background(), svc, fmt.Sprintf("RM%d%d", time.Now().UnixNano()%1e6, prefixes.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Store = store

	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-forwarding"}, Reason: "INC-9"})
	st := run.Step("remove-forwarding")
	if run.Status != runs.Succeeded || st.Status != runs.StepSucceeded || st.Attempts != 1 {
		t.Fatalf("run %s, step %s after %d attempts; want succeeded once\n%s", run.Status, st.Status, st.Attempts, dump(run))
	}
	if got := writes(e.sim); len(got) != 1 || got[0] != "Set-Mailbox" {
		t.Errorf("tenant writes %v, want one Set-Mailbox", got)
	}
	if !strings.Contains(e.logs.String(), "claiming from the stored run") {
		t.Errorf("the refused claim was not logged:\n%s", e.logs.String())
	}
}

// When another delivery claimed the step between the run's creation and the claim from
// memory (a message sent to the step's queue by hand), the claim from memory is refused by
// the record's ETag, and the stored claim shows the step held: the sync run does not act
// on it a second time.
func TestSyncStepClaimedByAnotherDeliveryMeanwhileDoesNotActTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	// Our claim then goes on to Azurite with the ETag the run was created with.
	direct := anotherDeliveryBefore(t, e, 1, func(st *runs.Step) {
		st.Status, st.ClaimedBy, st.ClaimedDequeue, st.Attempts = runs.StepRunning, "message-sent-by-hand", 1, 1
		st.LeaseUntil = time.Now().Add(time.Hour)
	})

	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-forwarding"}, Reason: "INC-9"})
	if got := writes(e.sim); len(got) != 0 {
		t.Fatalf("the sync run acted on a step another delivery holds: %v", got)
	}
	held, err := direct.Get(context.Background(), run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if st := held.Step("remove-forwarding"); st.Status != runs.StepRunning || st.ClaimedBy != "message-sent-by-hand" {
		t.Fatalf("the other delivery's claim was overwritten: %+v", st)
	}
	if !strings.Contains(e.logs.String(), "another delivery is running the step") {
		t.Errorf("the held step was not logged:\n%s", e.logs.String())
	}
}

// When another delivery's final result for a sync run's step is stored before the step's
// own (a message sent by hand that took the step over), that result stands, and the run
// ends by the stored record, not by what the process running it remembers.
func TestSyncRunEndsByTheStoredResultWhenAnotherDeliverysStands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	// remove-forwarding writes its claim, its evidence, then its outcome: before the
	// outcome, another delivery's failed result is stored.
	anotherDeliveryBefore(t, e, 3, func(st *runs.Step) {
		now := time.Now()
		st.Status, st.FinishedAt, st.Error = runs.StepFailed, &now, &runs.Error{Code: "other_delivery", Message: "remove-forwarding: ended by another delivery"}
	})

	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-forwarding"}, Reason: "INC-9"})
	st := run.Step("remove-forwarding")
	if st.Status != runs.StepFailed || st.Error == nil || st.Error.Code != "other_delivery" {
		t.Fatalf("step %+v, want the stored result of the other delivery", st)
	}
	if run.Status != runs.Failed {
		t.Fatalf("run %s, want failed: it ends by the stored step results\n%s", run.Status, dump(run))
	}
}

// anotherDeliveryBefore gives env e a run-record store in which, just before the nth write
// of the remove-forwarding step, another delivery changes that step (change, written
// straight to the table): the write then goes on with the ETag it had. It returns the
// store that other delivery writes with, to read the record back.
func anotherDeliveryBefore(t *testing.T, e *env, nth int, change func(*runs.Step)) *runs.Store {
	t.Helper()
	prefix := fmt.Sprintf("RM%d%d", time.Now().UnixNano()%1e6, prefixes.Add(1))
	direct, err := runs.Open(context.Background(), tableSvc, prefix)
	if err != nil {
		t.Fatal(err)
	}
	svc := hookedTables(t, "step-remove-forwarding", nth, func(w http.ResponseWriter, r *http.Request) bool {
		// The run's id is the partition key in the entity's address.
		_, rest, _ := strings.Cut(r.URL.Path, "PartitionKey='")
		runID, _, _ := strings.Cut(rest, "'")
		other, err := direct.Get(r.Context(), runID)
		if err != nil {
			t.Errorf("read the run: %v", err)
			return false
		}
		st := other.Step("remove-forwarding")
		change(st)
		if err := direct.UpdateStep(r.Context(), runID, st); err != nil {
			t.Errorf("write as another delivery: %v", err)
		}
		return false
	})
	store, err := runs.Open(context.Background(), svc, prefix)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Store = store
	return direct
}
