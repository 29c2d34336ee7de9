package remediation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// hostQueue plays the step queues and the host's delivery rules: every message has an id
// and a DequeueCount, a failed delivery comes back (the same message, DequeueCount + 1)
// until maxDequeueCount, then goes to the poison queue; a message sent with a delay
// (EnqueueAfter) records the delay and is delivered without waiting it out.
type hostQueue struct {
	mu      sync.Mutex
	next    int
	pending []*hostMsg
	delays  []time.Duration
	poison  []*hostMsg
}

type hostMsg struct {
	id      string
	queue   string
	body    stepBody
	dequeue int
}

type stepBody struct {
	RunID    string `json:"runId"`
	Deferral int    `json:"deferral"`
}

func (q *hostQueue) Enqueue(ctx context.Context, queue string, message []byte) error {
	return q.EnqueueAfter(ctx, queue, message, 0)
}

func (q *hostQueue) EnqueueAfter(_ context.Context, queue string, message []byte, delay time.Duration) error {
	var b stepBody
	if err := json.Unmarshal(message, &b); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	q.pending = append(q.pending, &hostMsg{id: fmt.Sprintf("m%d", q.next), queue: queue, body: b})
	if delay > 0 {
		q.delays = append(q.delays, delay)
	}
	return nil
}

func (q *hostQueue) take() []*hostMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	q.pending = nil
	return out
}

// deliver hands m to the service once, as the host would, and settles it.
func (q *hostQueue) deliver(t *testing.T, svc *remediation.Service, m *hostMsg, maxDequeue int) error {
	t.Helper()
	m.dequeue++
	name, _ := catalog.Parse(strings.TrimPrefix(m.queue, "step-"))
	err := svc.ExecuteStep(context.Background(), m.body.RunID, name, remediation.Delivery{
		Queued: true, DequeueCount: m.dequeue, MessageID: m.id, Deferral: m.body.Deferral})
	if err != nil {
		q.mu.Lock()
		if m.dequeue >= maxDequeue {
			q.poison = append(q.poison, m)
		} else {
			q.pending = append(q.pending, m)
		}
		q.mu.Unlock()
	}
	return err
}

// drain delivers until no message is left.
func (q *hostQueue) drain(t *testing.T, svc *remediation.Service, maxDequeue int) {
	t.Helper()
	for round := 0; round < 50; round++ {
		msgs := q.take()
		if len(msgs) == 0 {
			return
		}
		for _, m := range msgs {
			_ = q.deliver(t, svc, m, maxDequeue)
		}
	}
	t.Fatal("queues never drained")
}

func newThrottleEnv(t *testing.T, cfg remediation.Config) (*env, *hostQueue) {
	t.Helper()
	e := newEnv(t, cfg)
	q := &hostQueue{}
	e.svc.Queue = q
	return e, q
}

// appliedSetMailbox counts the Set-Mailbox calls the simulator carried out.
func appliedSetMailbox(sim *tenantsim.Sim) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Cmdlet == "Set-Mailbox" && r.Status >= 200 && r.Status < 300 {
			n++
		}
	}
	return n
}

// TestThrottledStepPastItsDeliveriesStillSucceeds: Exchange throttles remove-forwarding for
// more attempts than the message has deliveries (maxDequeueCount 2, each delivery tries
// twice). Each throttled delivery defers the step (a new message delayed by Retry-After plus
// jitter) and succeeds, so the step ends succeeded; without deferral it ended failed.
func TestThrottledStepPastItsDeliveriesStillSucceeds(t *testing.T) {
	t.Parallel()
	e, q := newThrottleEnv(t, remediation.Config{MaxDequeueCount: 2})
	e.sim.ThrottleNext(6, "Set-Mailbox", 0) // 3 deliveries of 2 attempts each
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"remove-forwarding"}, Reason: "throttle"})

	// The first delivery is throttled: the run document shows the deferral.
	first := q.take()
	if len(first) != 1 {
		t.Fatalf("%d first messages, want 1", len(first))
	}
	if err := q.deliver(t, e.svc, first[0], 2); err != nil {
		t.Fatalf("a throttled delivery must succeed (the step is deferred): %v", err)
	}
	st := e.get(run.RunID).Step("remove-forwarding")
	if st.Status != runs.StepPending || st.DeferredUntil == nil || !st.DeferredUntil.After(time.Now()) || !strings.Contains(st.Message, "deferred until") {
		t.Fatalf("after a throttled delivery the step is %s, deferredUntil %v, message %q; want pending, deferred into the future", st.Status, st.DeferredUntil, st.Message)
	}
	if doc, _ := json.Marshal(st); !strings.Contains(string(doc), `"deferredUntil"`) {
		t.Errorf("deferredUntil is not in the run document: %s", doc)
	}

	q.drain(t, e.svc, 2)
	got := e.get(run.RunID)
	st = got.Step("remove-forwarding")
	if got.Status != runs.Succeeded || st.Status != runs.StepSucceeded {
		t.Fatalf("run %s, step %s (%v): want succeeded after the throttling passed\n%s", got.Status, st.Status, st.Error, e.logs.String())
	}
	if st.DeferredUntil != nil || st.Error != nil {
		t.Errorf("finished step still shows deferredUntil %v / error %v", st.DeferredUntil, st.Error)
	}
	if st.Attempts != 4 {
		t.Errorf("attempts %d, want 4 (3 throttled, 1 that succeeded)", st.Attempts)
	}
	if len(q.delays) != 3 {
		t.Errorf("%d delayed sends, want 3 (one per throttled delivery): %v", len(q.delays), q.delays)
	}
	for _, d := range q.delays {
		if d < time.Second {
			t.Errorf("deferral delay %v: want at least the Retry-After plus jitter, in whole seconds", d)
		}
	}
	if len(q.poison) != 0 {
		t.Errorf("%d messages in the poison queue: throttling used up deliveries", len(q.poison))
	}
	if n := appliedSetMailbox(e.sim); n != 1 {
		t.Errorf("Set-Mailbox applied %d times, want 1", n)
	}
}

// TestDeferralPastStepDeadlineFailsNamingTheThrottling: a Retry-After that ends after
// STEP_DEADLINE (counted from the run's start) ends the step failed with code throttled and
// the service's answer in the message; the run ends failed, and the delivery succeeds (the
// failure is recorded, nothing to deliver again).
func TestDeferralPastStepDeadlineFailsNamingTheThrottling(t *testing.T) {
	t.Parallel()
	e, q := newThrottleEnv(t, remediation.Config{MaxDequeueCount: 5, StepDeadline: 20 * time.Second})
	e.sim.ThrottleNext(10, "Set-Mailbox", 40*time.Second) // longer than the client waits inline
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"remove-forwarding"}, Reason: "deadline"})
	msgs := q.take()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	if err := q.deliver(t, e.svc, msgs[0], 5); err != nil {
		t.Fatalf("delivery: %v (the failure is recorded: the delivery succeeds)", err)
	}
	got := e.get(run.RunID)
	st := got.Step("remove-forwarding")
	if st.Status != runs.StepFailed || st.Error == nil || st.Error.Code != "throttled" {
		t.Fatalf("step %s, error %+v: want failed with code throttled", st.Status, st.Error)
	}
	for _, want := range []string{"429", "STEP_DEADLINE", "Exchange"} {
		if !strings.Contains(st.Error.Message, want) {
			t.Errorf("error message %q does not name %q", st.Error.Message, want)
		}
	}
	if got.Status != runs.Failed || got.Error == nil || got.Error.Code != "throttled" {
		t.Errorf("run %s, error %+v: want failed, throttled", got.Status, got.Error)
	}
	if len(q.take()) != 0 || len(q.delays) != 0 {
		t.Error("a step past its deadline must not be sent again")
	}
}

// TestDuplicateOfADeferredMessageChangesNothing: after a deferral, the deferral's message
// and copies of the old message are delivered in every order that matters. Exactly one
// delivery acts; the others change nothing in the tenant and record nothing.
func TestDuplicateOfADeferredMessageChangesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// order plays the deliveries after the deferral: "new" is the deferral's message,
		// "old-redelivery" the old message again (its delivery's answer was lost),
		// "old-copy" another copy of the old message (a resend), "new-copy" a duplicate
		// of the deferral's message.
		order   []string
		attempt int // total acting deliveries expected
	}{
		{"deferral message, then the old one redelivered", []string{"new", "old-redelivery", "old-copy"}, 2},
		{"old one redelivered first, then the deferral message", []string{"old-redelivery", "new", "new-copy"}, 2},
		{"stale copy first, then the deferral message twice", []string{"old-copy", "new", "new-copy"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, q := newThrottleEnv(t, remediation.Config{MaxDequeueCount: 5})
			e.sim.ThrottleNext(2, "Set-Mailbox", 0) // the first delivery (2 attempts) only
			run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"remove-forwarding"}, Reason: "dup"})
			old := q.take()[0]
			if err := q.deliver(t, e.svc, old, 5); err != nil {
				t.Fatal(err)
			}
			deferred := q.take()
			if len(deferred) != 1 || deferred[0].body.Deferral != 1 {
				t.Fatalf("deferral messages %+v, want one with deferral 1", deferred)
			}
			msgs := map[string]*hostMsg{
				"new":            deferred[0],
				"new-copy":       {id: deferred[0].id, queue: deferred[0].queue, body: deferred[0].body},
				"old-redelivery": old, // same id, DequeueCount 2
				"old-copy":       {id: "resend-of-" + old.id, queue: old.queue, body: old.body},
			}
			for _, which := range tc.order {
				if err := q.deliver(t, e.svc, msgs[which], 5); err != nil {
					t.Fatalf("%s: %v", which, err)
				}
			}
			got := e.get(run.RunID)
			st := got.Step("remove-forwarding")
			if got.Status != runs.Succeeded || st.Status != runs.StepSucceeded {
				t.Fatalf("run %s step %s: want succeeded\n%s", got.Status, st.Status, e.logs.String())
			}
			if st.Attempts != tc.attempt {
				t.Errorf("attempts %d, want %d: a duplicate acted", st.Attempts, tc.attempt)
			}
			if n := appliedSetMailbox(e.sim); n != 1 {
				t.Errorf("Set-Mailbox applied %d times, want 1", n)
			}
			if len(st.Changes) != 1 {
				t.Errorf("%d changes recorded, want 1: %+v", len(st.Changes), st.Changes)
			}
		})
	}
}

// TestRecoverMovesARunWithinMinutesOfItsStepLeaseExpiring: an async run three minutes old
// whose remove-forwarding delivery died (the step is running, its lease ran out 10 s ago,
// its message went to the poison queue) is recovered by the next Recover, long before the
// 20 minutes a run must otherwise be old; one whose lease still holds is left alone.
func TestRecoverMovesARunWithinMinutesOfItsStepLeaseExpiring(t *testing.T) {
	t.Parallel()
	e, q := newThrottleEnv(t, remediation.Config{MaxDequeueCount: 5})
	ctx := context.Background()
	now := time.Now().UTC()
	created := now.Add(-3 * time.Minute)
	started := created.Add(time.Second)
	mk := func(id string, lease time.Time) *runs.Run {
		return &runs.Run{
			RunID: id, Status: runs.Running, Mode: "async", CreatedAt: created,
			User: runs.UserRef{ID: e.demo.UserID, UserPrincipalName: e.demo.UPN, Mail: e.demo.UPN},
			Steps: []runs.Step{{Name: "remove-forwarding", Status: runs.StepRunning, Attempts: 1, StartedAt: &started,
				LeaseUntil: lease, ClaimedBy: "poisoned", ClaimedDequeue: 5}},
		}
	}
	dead := mk("20260101t000000-00000000000000d1", now.Add(-10*time.Second))
	alive := mk("20260101t000000-00000000000000d2", now.Add(time.Minute))
	for _, r := range []*runs.Run{dead, alive} {
		if err := e.svc.Store.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := e.svc.Recover(ctx)
	if err != nil || n != 1 {
		t.Fatalf("recovered %d, %v: want the one run whose lease ran out", n, err)
	}
	q.drain(t, e.svc, 5)
	if run := e.get(dead.RunID); run.Status != runs.Succeeded || run.Step("remove-forwarding").Attempts != 2 {
		t.Fatalf("dead run %s\n%s", run.Status, dump(run))
	}
	if run := e.get(alive.RunID); run.Status != runs.Running || run.Step("remove-forwarding").Attempts != 1 {
		t.Fatalf("a run whose step holds a live lease was touched: %s\n%s", run.Status, dump(run))
	}
	if n := appliedSetMailbox(e.sim); n != 1 {
		t.Errorf("Set-Mailbox applied %d times, want 1", n)
	}
}

// TestRecoverResendsADeferredStepWhoseMessageNeverCame: a deferred step whose deferral
// message was lost is sent again once its lease (deferredUntil plus the enqueue lease) ran
// out, under a new deferral number, so the lost message, should it turn up, is stale.
func TestRecoverResendsADeferredStepWhoseMessageNeverCame(t *testing.T) {
	t.Parallel()
	e, q := newThrottleEnv(t, remediation.Config{MaxDequeueCount: 5})
	ctx := context.Background()
	now := time.Now().UTC()
	created := now.Add(-30 * time.Minute)
	until := now.Add(-15 * time.Minute)
	run := &runs.Run{
		RunID: "20260101t000000-00000000000000d3", Status: runs.Running, Mode: "async", CreatedAt: created,
		User: runs.UserRef{ID: e.demo.UserID, UserPrincipalName: e.demo.UPN, Mail: e.demo.UPN},
		Steps: []runs.Step{{Name: "remove-forwarding", Status: runs.StepPending, Attempts: 1, Enqueued: true,
			DeferredUntil: &until, Deferrals: 1, DeferredBy: "m1", DeferredDequeue: 1, LeaseUntil: now.Add(-5 * time.Minute)}},
	}
	if err := e.svc.Store.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("recovered %d, %v", n, err)
	}
	msgs := q.take()
	if len(msgs) != 1 || msgs[0].body.Deferral != 2 {
		t.Fatalf("resent %+v, want one message with deferral 2", msgs)
	}
	lost := &hostMsg{id: "m2", queue: msgs[0].queue, body: stepBody{RunID: run.RunID, Deferral: 1}}
	for _, m := range []*hostMsg{lost, msgs[0]} {
		if err := q.deliver(t, e.svc, m, 5); err != nil {
			t.Fatal(err)
		}
	}
	got := e.get(run.RunID)
	if got.Status != runs.Succeeded || got.Step("remove-forwarding").Attempts != 2 {
		t.Fatalf("run %s\n%s", got.Status, dump(got))
	}
}
