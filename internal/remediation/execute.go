package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// Delivery describes how a step execution was asked for.
type Delivery struct {
	Queued       bool   // from a step queue (else in process, sync mode)
	DequeueCount int    // the host's DequeueCount for queued deliveries
	MessageID    string // the queue message's id, to tell a redelivery from a duplicate
	// Deferral is the deferral number the message carries (0: not sent by a deferral). A
	// message older than the step's latest deferral is stale.
	Deferral int

	// inProcess is the sync run this process is running, when the step is one of its
	// steps: the step's result goes into it, so the steps that wait for it and the run's
	// finish need not read the run again.
	inProcess *inProcessRun
	// fromMemory lets the claim start from inProcess instead of reading the run, and write
	// itself while the step starts reading (only the first attempt of a sync run's step:
	// its record is the one the run was created with, which nothing else has changed).
	fromMemory bool
}

// takesOverDeferral reports whether d is a redelivery of the message whose delivery
// deferred st: that delivery never completed (its answer was lost, or the deferral's
// message could not be sent), so the deferral's message may not exist; d acts instead,
// and the claim makes any deferral message that does exist stale.
func (d Delivery) takesOverDeferral(st *runs.Step) bool {
	return d.Queued && d.MessageID != "" && st.Status == runs.StepPending && st.DeferredUntil != nil &&
		st.DeferredBy == d.MessageID && d.DequeueCount > st.DeferredDequeue && d.Deferral == st.Deferrals-1
}

// redelivers reports whether d is a later delivery of the message whose earlier delivery
// claimed st. The host delivers a message again only after the earlier delivery ended
// (failed, timed out, or its handler died), so that claim is dead and d may take over.
func (d Delivery) redelivers(st *runs.Step) bool {
	return d.Queued && d.MessageID != "" && st.ClaimedBy == d.MessageID && d.DequeueCount > st.ClaimedDequeue
}

// last reports whether a failure now is final: no further delivery will come.
func (s *Service) last(d Delivery) bool {
	if !d.Queued {
		return true
	}
	max := s.Config.MaxDequeueCount
	if max <= 0 {
		max = 5
	}
	return d.DequeueCount >= max
}

// DelayedQueue is a Queue that can send a message that becomes visible later (azqueue's
// visibility timeout on send): a throttled step is sent again after Retry-After. Without
// it a throttled step fails its delivery like any transient failure.
type DelayedQueue interface {
	EnqueueAfter(ctx context.Context, queue string, message []byte, delay time.Duration) error
}

// stepMessage is a step queue message: {"runId"} (contract 3), and the deferral number
// once the step was deferred.
func stepMessage(runID string, deferral int) []byte {
	msg, _ := json.Marshal(struct {
		RunID    string `json:"runId"`
		Deferral int    `json:"deferral,omitempty"`
	}{runID, deferral})
	return msg
}

// enqueueLease is how long a step may sit enqueued and not started before advance sends
// its message again (the first send was lost, e.g. the handler crashed in between).
const enqueueLease = 10 * time.Minute

// ExecuteStep runs one step of a run exactly once: a duplicate delivery of a step that has
// finished, or that another delivery is working on, changes nothing and records nothing.
// It returns ErrRetry when the host must deliver the message again.
func (s *Service) ExecuteStep(ctx context.Context, runID string, name steps.Name, d Delivery) error {
	run, step, pending, err := s.claim(ctx, runID, name, d)
	if err != nil || step == nil {
		return err
	}
	// Every write of the step waits for its claim first: the claim's ETag is where the
	// step's next version starts, and a step whose claim was not recorded must not act.
	claimed := pending.settler(step)

	// Evidence left by an earlier delivery that did not finish: changes it planned and may
	// have made although their answers never came.
	prior := step.Evidence
	if !run.DryRun {
		prior = s.verifiedEvidence(run, string(name), prior)
	}
	var plannedNow []runs.Change

	others := map[steps.Name]runs.StepStatus{}
	for _, o := range run.Steps {
		if o.Name != step.Name {
			others[steps.Name(o.Name)] = o.Status
		}
	}
	opts := s.decodeOptions(run.Options)
	out, stop, note := s.gate(ctx, run, name, opts, others)
	if !stop {
		if name == steps.Investigate {
			// Investigation is read access to a person's sign-ins and mail: each read says who
			// asked (a key's fingerprint, a principal, queue:<name>), for whom and why.
			s.Log.Info("investigation reads the user's sign-ins, audit events and mail trace", "runId", runID, "userId", run.User.ID,
				"requestedBy", run.RequestedBy, "requesterId", run.RequesterID, "reason", run.Reason, "dryRun", run.DryRun, "attempt", step.Attempts)
		}
		sctx, cancel := context.WithTimeout(ctx, s.stepTimeout())
		out = s.Runner.Run(sctx, name, steps.Input{
			Target:  steps.Target{ID: run.User.ID, UPN: run.User.UserPrincipalName, Mail: run.User.Mail, Synced: run.User.OnPremisesSyncEnabled},
			DryRun:  run.DryRun,
			Reason:  run.Reason,
			RunID:   run.RunID,
			Options: opts,
			Others:  others,
			Async:   run.Mode != "sync",
			// The evidence is in the run record before the tenant changes: a crash or a
			// failed action leaves the record of what was read and about to change.
			Record: func(ctx context.Context, planned []runs.Change) error {
				if err := claimed(); err != nil {
					return err
				}
				s.sealEvidence(run, string(name), planned)
				plannedNow = planned
				step.Evidence = append(append([]runs.Change(nil), planned...), outstanding(prior, planned, step.Changes)...)
				return s.saveStep(ctx, runID, step)
			},
		})
		cancel()
		if note != "" {
			out.Message = strings.TrimSpace(note + " " + out.Message)
		}
	}

	if err := claimed(); err != nil {
		// Nothing acted: a step acts only once its evidence is recorded, which waited for
		// the claim. The caller claims the step again from the stored record.
		return fmt.Errorf("%s of run %s: %w: %w", name, runID, errClaimNotRecorded, err)
	}
	if out.Throttled && s.deferrable(run, d) {
		return s.deferStep(ctx, run, step, out, d)
	}

	if !out.Transient && !run.DryRun && (out.Status == runs.StepSucceeded || out.Status == runs.StepNoChange) {
		out = carryOver(out, prior, plannedNow, step.Changes)
	}
	retry := out.Transient && !s.last(d)
	now := s.now()
	s.sealChanges(run, string(name), out.Changes)
	step.Changes = append(step.Changes, out.Changes...)
	if !out.Transient && out.Status != runs.StepFailed {
		// The outcome's changes are the record now. Only what an earlier delivery planned
		// and sent, and this one neither planned nor made nor could carry over (it ended
		// action_required or skipped, so a missing plan item may be one it kept), stays as
		// evidence: its outcome is not known.
		step.Evidence = outstanding(prior, plannedNow, step.Changes)
	}
	step.Error = out.Error
	step.Message = out.Message
	step.Findings = out.Findings
	step.LeaseUntil = time.Time{}
	if retry {
		step.Status = runs.StepPending
	} else {
		step.Status = out.Status
		step.FinishedAt = &now
		if out.Transient {
			step.Message = fmt.Sprintf("gave up after %d attempts", step.Attempts)
		}
	}
	deferred, err := s.saveStepOrDefer(ctx, runID, step)
	if err != nil {
		return err
	}
	if d.inProcess != nil {
		d.inProcess.put(step, deferred)
	}
	for _, c := range out.Changes {
		s.Log.Info("step change", "runId", runID, "step", name, "userId", run.User.ID, "action", c.Action, "target", c.Target, "dryRun", run.DryRun)
	}
	s.Log.Info("step finished", "runId", runID, "step", name, "userId", run.User.ID, "status", step.Status, "attempt", step.Attempts, "retry", retry)
	if retry {
		return fmt.Errorf("%s of run %s: %s: %w", name, runID, out.Error.Message, ErrRetry)
	}
	// A sync run's steps are started by executeInProcess, which finishes the run once all
	// are done: reading the run again here would only add a Table round trip between a step
	// and the steps that wait for it. Other runs send their next steps from here.
	if run.Mode != "sync" {
		if err := s.advance(ctx, runID, false); err != nil {
			return err
		}
	}
	if out.Transient && d.Queued {
		return fmt.Errorf("%s of run %s after %d attempts: %w", name, runID, step.Attempts, ErrGaveUp)
	}
	return nil
}

// answerLost is the reason added to a change learnt from an earlier delivery's evidence.
const answerLost = "made by an earlier delivery of this step whose answer never came (the service carried it out; the answer was lost or timed out): that delivery recorded it as evidence before acting, and this delivery found it done"

// outstanding lists the changes of an earlier delivery's evidence that are neither planned
// now nor recorded as made: their outcome is not known yet.
func outstanding(prior, planned, made []runs.Change) []runs.Change {
	known := map[string]bool{}
	for _, c := range append(append([]runs.Change(nil), planned...), made...) {
		known[c.Action+"\x00"+c.Target] = true
	}
	var out []runs.Change
	for _, c := range prior {
		if !known[c.Action+"\x00"+c.Target] {
			out = append(out, c)
		}
	}
	return out
}

// carryOver completes the outcome of a step that read the tenant and finished (succeeded
// or no_change) with the changes an earlier delivery planned and sent but never heard
// back about: this delivery neither planned them (there was nothing left to change) nor
// made them, so the tenant holds them done, and the record must say so, restore record
// included. A step that made changes, now or in an earlier delivery, has succeeded.
func carryOver(out steps.Outcome, prior, planned, made []runs.Change) steps.Outcome {
	for _, c := range outstanding(prior, append(append([]runs.Change(nil), planned...), out.Changes...), made) {
		c.Reasons = append(append([]string(nil), c.Reasons...), answerLost)
		out.Changes = append(out.Changes, c)
	}
	if out.Status == runs.StepNoChange && len(out.Changes)+len(made) > 0 {
		out.Status = runs.StepSucceeded
		out.Message = strings.TrimSpace("Nothing was left to change: the changes recorded were made by earlier deliveries of this step. " + out.Message)
	}
	return out
}

// claim marks the step running for this delivery. It returns a nil step when there is
// nothing to do (the step finished, or another delivery holds it). A claim from memory
// (Delivery.fromMemory) is still being written when claim returns: the step waits for it
// (claimWrite.settler) before it records anything, and so before it acts.
func (s *Service) claim(ctx context.Context, runID string, name steps.Name, d Delivery) (*runs.Run, *runs.Step, *claimWrite, error) {
	for attempt := 0; attempt < 20; attempt++ {
		var (
			run *runs.Run
			err error
		)
		fromMemory := attempt == 0 && d.fromMemory && d.inProcess != nil
		if fromMemory {
			run = d.inProcess.snapshot()
		} else {
			run, err = s.Store.Get(ctx, runID)
		}
		if errors.Is(err, runs.ErrNotFound) {
			s.Log.Error("message for an unknown run dropped", "runId", runID, "step", name)
			return nil, nil, nil, nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if run.Tampered != "" {
			s.tampered(run, "step "+string(name))
			return nil, nil, nil, nil // acknowledged: a redelivery would find the same record
		}
		step := run.Step(string(name))
		now := s.now()
		switch {
		case run.Halted():
			// Waiting for approval, or rejected or expired: nothing of it acts, whatever
			// message arrives (a step message sent by hand, a stale duplicate).
			s.Log.Warn("message for a run that is not approved dropped", "runId", runID, "step", name, "status", run.Status)
			return nil, nil, nil, nil
		case step == nil:
			s.Log.Error("message for a step that is not in the run dropped", "runId", runID, "step", name)
			return nil, nil, nil, nil
		case step.Status.Final():
			// Duplicate of a finished step: make sure the run moved on, then stop. A redelivery
			// means the delivery that finished the step may have died before it sent the next
			// steps' messages, so those are sent again.
			return nil, nil, nil, s.advance(ctx, runID, d.DequeueCount > 1)
		case d.Deferral > step.Deferrals:
			s.Log.Error("message from a deferral the step does not know dropped", "runId", runID, "step", name, "deferral", d.Deferral, "deferrals", step.Deferrals)
			return nil, nil, nil, nil
		case d.Deferral < step.Deferrals && d.takesOverDeferral(step):
			s.Log.Warn("the delivery that deferred this step did not complete; its redelivery acts instead of the deferral's message", "runId", runID, "step", name, "dequeueCount", d.DequeueCount)
			step.Deferrals++ // the deferral's message, if it was sent, is stale from here on
		case d.Deferral < step.Deferrals:
			// The step was deferred after this message was sent: the deferral's own message
			// acts, this one changes nothing.
			s.Log.Info("stale message ignored: the step was deferred since it was sent", "runId", runID, "step", name, "deferral", d.Deferral, "deferrals", step.Deferrals)
			return nil, nil, nil, nil
		case step.Status == runs.StepRunning && d.redelivers(step):
			s.Log.Warn("the previous delivery of this message ended before the step finished (handler crash or timeout); acting again", "runId", runID, "step", name, "dequeueCount", d.DequeueCount)
		case step.Status == runs.StepRunning && now.Before(step.LeaseUntil):
			s.Log.Info("duplicate delivery ignored: another delivery is running the step", "runId", runID, "step", name)
			return nil, nil, nil, nil
		case !s.depsFinal(run, name):
			// Early message (e.g. sent by hand): advance sends it again when its turn comes.
			s.Log.Info("step not ready yet; it is enqueued when the steps it waits for finish", "runId", runID, "step", name)
			return nil, nil, nil, nil
		}
		step.Status = runs.StepRunning
		step.ClaimedBy, step.ClaimedDequeue = d.MessageID, d.DequeueCount
		step.DeferredUntil, step.DeferredBy, step.DeferredDequeue = nil, "", 0
		step.Attempts++
		if step.StartedAt == nil {
			step.StartedAt = &now
		}
		step.LeaseUntil = now.Add(s.stepTimeout() + 30*time.Second)
		if fromMemory && run.Status != runs.Queued {
			return run, step, s.writeClaim(ctx, runID, step), nil
		}
		err = s.Store.UpdateStep(ctx, runID, step)
		if errors.Is(err, runs.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if run.Status == runs.Queued {
			run.Status = runs.Running
			if err := s.Store.UpdateRun(ctx, run); err != nil && !errors.Is(err, runs.ErrConflict) {
				return nil, nil, nil, err
			}
		}
		return run, step, nil, nil
	}
	return nil, nil, nil, fmt.Errorf("claim %s of run %s: %w", name, runID, runs.ErrConflict)
}

// errClaimNotRecorded: a claim written while the step read (Delivery.fromMemory) failed,
// so the step changed nothing and recorded nothing.
var errClaimNotRecorded = errors.New("the step's claim was not recorded")

// claimWrite is a claim on its way to the store while its step reads the tenant: a sync
// run's step would otherwise wait a Table round trip before its first request, and with
// every step of a run starting at once those round trips queue up at the store.
type claimWrite struct {
	done    chan struct{}
	written runs.Step // the claimed step as written; it holds the ETag the write got
	err     error
}

// writeClaim starts writing the claimed step.
func (s *Service) writeClaim(ctx context.Context, runID string, step *runs.Step) *claimWrite {
	c := &claimWrite{done: make(chan struct{}), written: *step}
	go func() {
		defer close(c.done)
		c.err = s.Store.UpdateStep(ctx, runID, &c.written)
	}()
	return c
}

// settler returns a function that waits for the claim's write (at once when there is
// none) and reports whether it was recorded; the first call gives step the claim's ETag,
// so that its next write replaces the claim. It may be called any number of times.
func (c *claimWrite) settler(step *runs.Step) func() error {
	if c == nil {
		return func() error { return nil }
	}
	var once sync.Once
	return func() error {
		once.Do(func() {
			<-c.done
			if c.err == nil {
				step.SetETagFrom(&c.written)
			}
		})
		return c.err
	}
}

// saveStep writes the step's result, re-reading on a conflict (someone changed bookkeeping
// fields meanwhile, e.g. advance marked it enqueued).
//
// The step has already acted, so a passing store failure is retried here before giving up:
// a result that is never saved is evidence lost (the redelivery finds the work done and has
// nothing to record).
func (s *Service) saveStep(ctx context.Context, runID string, result *runs.Step) error {
	_, err := s.saveStepOrDefer(ctx, runID, result)
	return err
}

// saveStepOrDefer is saveStep, reporting whether result was not written because another
// delivery's final result for the step was already stored (that result stands).
func (s *Service) saveStepOrDefer(ctx context.Context, runID string, result *runs.Step) (deferred bool, err error) {
	err = s.Store.UpdateStep(ctx, runID, result)
	for attempt := 1; errors.Is(err, runs.ErrUnavailable) && attempt <= 3; attempt++ {
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		}
		err = s.Store.UpdateStep(ctx, runID, result)
	}
	for attempt := 0; errors.Is(err, runs.ErrConflict) && attempt < 20; attempt++ {
		run, gerr := s.Store.Get(ctx, runID)
		if gerr != nil {
			return false, gerr
		}
		current := run.Step(result.Name)
		if current.Status.Final() {
			return true, nil
		}
		result.SetETagFrom(current)
		err = s.Store.UpdateStep(ctx, runID, result)
	}
	return false, err
}

func (s *Service) depsFinal(run *runs.Run, name steps.Name) bool {
	for _, dep := range catalog.DependsOn(name, stepNames(run)) {
		if st := run.Step(string(dep)); st != nil && !st.Status.Final() {
			return false
		}
	}
	return true
}

func stepNames(run *runs.Run) []steps.Name {
	names := make([]steps.Name, len(run.Steps))
	for i, st := range run.Steps {
		names[i] = steps.Name(st.Name)
	}
	return names
}

// advance enqueues every step whose turn has come (once: the step is marked enqueued with an
// ETag-guarded write before its message is sent) and finishes the run when every step is
// final. It is idempotent, so every delivery may call it. resend also sends the message of a
// step marked enqueued that has not started: the caller knows an earlier advance may have
// died between marking and sending.
func (s *Service) advance(ctx context.Context, runID string, resend bool) error {
	run, err := s.Store.Get(ctx, runID)
	if err != nil {
		return err
	}
	if run.Tampered != "" {
		s.tampered(run, "advance")
		return nil
	}
	if run.Halted() {
		return nil // nothing is sent before approval; a rejected or expired run is final
	}
	if run.Mode != "sync" {
		for i := range run.Steps {
			st := &run.Steps[i]
			name := steps.Name(st.Name)
			if st.Status != runs.StepPending || !s.depsFinal(run, name) {
				continue
			}
			if st.Enqueued && !resend && s.now().Before(st.LeaseUntil) {
				continue
			}
			if st.DeferredUntil != nil {
				if s.now().Before(st.LeaseUntil) {
					continue // its deferral's message is on its way
				}
				// The deferral's message never came: send a new one, and make the old one
				// stale should it still arrive.
				st.Deferrals++
				st.DeferredBy, st.DeferredDequeue = "", 0
			}
			st.Enqueued = true
			st.LeaseUntil = s.now().Add(enqueueLease)
			if err := s.Store.UpdateStep(ctx, runID, st); err != nil {
				if errors.Is(err, runs.ErrConflict) {
					continue // another instance got there first and sends it
				}
				return err
			}
			if err := s.Queue.Enqueue(ctx, functions.StepQueue(name), stepMessage(runID, st.Deferrals)); err != nil {
				// Let the next advance send it again instead of waiting for the lease.
				st.Enqueued = false
				st.LeaseUntil = time.Time{}
				_ = s.Store.UpdateStep(ctx, runID, st)
				return fmt.Errorf("enqueue %s of run %s: %w", name, runID, err)
			}
		}
	}
	return s.finish(ctx, run)
}

// finish gives the run its final status once every step is final.
func (s *Service) finish(ctx context.Context, run *runs.Run) error {
	for attempt := 0; attempt < 20; attempt++ {
		status, firstErr := run.Outcome()
		if status == "" || isFinal(run.Status) {
			return nil
		}
		now := s.now()
		watched := s.beginWatch(run, status, now)
		run.Status = status
		run.Error = firstErr
		run.FinishedAt = &now
		err := s.Store.UpdateRun(ctx, run)
		if err == nil {
			s.Log.Info("run finished", logevent.Attr(finishedEvent(status)), "runId", run.RunID, "userId", run.User.ID, "status", status, "dryRun", run.DryRun)
			if watched {
				s.startWatch(ctx, run)
			}
			return nil
		}
		run.Watch, run.WatchBaseline = nil, nil // set again from the record read next
		if !errors.Is(err, runs.ErrConflict) {
			return err
		}
		if run, err = s.Store.Get(ctx, run.RunID); err != nil {
			return err
		}
		if run.Tampered != "" {
			s.tampered(run, "finish")
			return nil
		}
	}
	return fmt.Errorf("finish run %s: %w", run.RunID, runs.ErrConflict)
}

func isFinal(st runs.Status) bool {
	switch st {
	case runs.Queued, runs.Running, runs.AwaitingApproval, "":
		return false
	}
	return true
}

// executeInProcess runs a run's steps in this process (sync mode), each as soon as the steps
// it waits for have finished, concurrently where the order allows. run is the run as it
// was just recorded: its steps start from it, and each step's result is added to it, so
// that no step reads the run before it starts and the run's finish need not either.
func (s *Service) executeInProcess(ctx context.Context, run *runs.Run, names []steps.Name) {
	runID := run.RunID
	view := &inProcessRun{run: run}
	done := map[steps.Name]chan struct{}{}
	for _, n := range names {
		done[n] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[n])
			for _, dep := range catalog.DependsOn(n, names) {
				<-done[dep]
			}
			s.executeWithRetries(ctx, view, n)
		}()
	}
	wg.Wait()
	var err error
	if finished, ok := view.finished(); ok {
		err = s.finish(ctx, finished)
	} else {
		// A step's result did not reach the store (or the run changed under it): the
		// stored record decides.
		err = s.advance(ctx, runID, false)
	}
	if err != nil {
		s.Log.Error("finish sync run", "runId", runID, "err", err)
	}
}

// inProcessRun is a sync run as the process running it knows it: the run as created, with
// each step's result as saved. Only its own process runs a sync run's steps (recovery
// switches a run to async before it sends any step to a queue), and every write is still
// ETag-guarded: a claim changed behind its back is refused (the step claims again from the
// store), and a result not written because another delivery's final result for the step
// is already stored marks the copy stale.
type inProcessRun struct {
	mu  sync.Mutex
	run *runs.Run
	// stale is set when a step's result was not written because another delivery's result
	// stands: from then on the stored run, not this copy, decides how the run ends.
	stale bool
}

// snapshot returns a copy a step may change.
func (v *inProcessRun) snapshot() *runs.Run {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := *v.run
	r.Steps = append([]runs.Step(nil), v.run.Steps...)
	return &r
}

// put records a step's saved result, or that it was not saved because another result
// stands (deferred).
func (v *inProcessRun) put(st *runs.Step, deferred bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if deferred {
		v.stale = true
		return
	}
	if mine := v.run.Step(st.Name); mine != nil {
		*mine = *st
	}
}

// finished returns the run once every step's saved result is final, unless the copy is
// stale.
func (v *inProcessRun) finished() (*runs.Run, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stale {
		return nil, false
	}
	for _, st := range v.run.Steps {
		if !st.Status.Final() {
			return nil, false
		}
	}
	r := *v.run
	r.Steps = append([]runs.Step(nil), v.run.Steps...)
	return &r, true
}

// executeWithRetries retries transient failures in process (the SDK clients already retried
// throttling); the last attempt ends the step failed.
func (s *Service) executeWithRetries(ctx context.Context, view *inProcessRun, name steps.Name) {
	const attempts = 3
	runID := view.run.RunID
	for i := 1; i <= attempts; i++ {
		// Earlier attempts count as queued deliveries that are not the last (DequeueCount 0,
		// so a transient failure returns ErrRetry); the last is in process, hence final.
		d := Delivery{Queued: i < attempts, inProcess: view, fromMemory: i == 1}
		err := s.ExecuteStep(ctx, runID, name, d)
		if errors.Is(err, errClaimNotRecorded) {
			// The claim written beside the step's first reads failed; nothing acted. Claim
			// again from the stored record, which shows whether someone else holds the step.
			s.Log.Warn("claim from memory not recorded; claiming from the stored run", "runId", runID, "step", name, "err", err)
			d.fromMemory = false
			err = s.ExecuteStep(ctx, runID, name, d)
		}
		if !errors.Is(err, ErrRetry) {
			if err != nil {
				s.Log.Error("step in process", "runId", runID, "step", name, "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(i) * time.Second):
		}
	}
}

// defaultThrottleWait is the deferral when the service throttled without saying how long.
const defaultThrottleWait = 5 * time.Second

// deferrable reports whether a throttled step can wait in its queue instead of using up a
// delivery: a queued delivery of an async run, with a queue that can delay a message.
func (s *Service) deferrable(run *runs.Run, d Delivery) bool {
	_, delayed := s.Queue.(DelayedQueue)
	return d.Queued && run.Mode != "sync" && delayed
}

func (s *Service) stepDeadline() time.Duration {
	if s.Config.StepDeadline > 0 {
		return s.Config.StepDeadline
	}
	return time.Hour
}

// deferStep handles a step the service throttled beyond the clients' own retries (contract
// 6.2): the step goes back to pending with the time it waits for, its message is sent again
// to become visible after the service's Retry-After plus jitter, and the current delivery
// succeeds, so throttling never uses up the message's deliveries. Past STEP_DEADLINE after
// the run started the step ends failed, naming the throttling.
//
// The record is written before the message is sent, with the deferral's number in both:
// a message sent before this deferral is stale from then on, so it and the deferral's
// message never both act. If the send fails, this delivery fails; its redelivery takes the
// step over (Delivery.takesOverDeferral) and makes the deferral's message, should it exist
// after all, stale.
func (s *Service) deferStep(ctx context.Context, run *runs.Run, step *runs.Step, out steps.Outcome, d Delivery) error {
	now := s.now()
	wait := out.RetryAfter
	if wait <= 0 {
		wait = defaultThrottleWait
	}
	until := now.Add(wait + jitter(wait)).Truncate(time.Second).Add(time.Second)
	deadline := run.CreatedAt.Add(s.stepDeadline())

	s.sealChanges(run, step.Name, out.Changes)
	step.Changes = append(step.Changes, out.Changes...)
	step.LeaseUntil = time.Time{}
	step.DeferredUntil, step.DeferredBy, step.DeferredDequeue = nil, "", 0
	what := "the service throttled the step"
	if out.Error != nil {
		what = out.Error.Message
	}
	if until.After(deadline) {
		step.Status = runs.StepFailed
		step.FinishedAt = &now
		step.Error = &runs.Error{Code: "throttled", Message: fmt.Sprintf(
			"throttled: %s; the service asked to wait %s more, past STEP_DEADLINE (%s after the run started, %s); deferred %d times before",
			what, wait.Round(time.Second), s.stepDeadline(), deadline.Format(time.RFC3339), step.Deferrals)}
		step.Message = "gave up: throttled until past STEP_DEADLINE"
		if err := s.saveStep(ctx, run.RunID, step); err != nil {
			return err
		}
		s.Log.Warn("step failed: throttled past STEP_DEADLINE", "runId", run.RunID, "step", step.Name, "userId", run.User.ID, "deferrals", step.Deferrals, "deadline", deadline)
		return s.advance(ctx, run.RunID, false)
	}

	step.Status = runs.StepPending
	step.Deferrals++
	step.DeferredUntil = &until
	step.DeferredBy, step.DeferredDequeue = d.MessageID, d.DequeueCount
	step.Enqueued = true
	step.LeaseUntil = until.Add(enqueueLease)
	step.Error = out.Error
	step.Message = fmt.Sprintf("throttled: deferred until %s (deferral %d; the service asked to wait %s)", until.Format(time.RFC3339), step.Deferrals, wait.Round(time.Second))
	if err := s.saveStep(ctx, run.RunID, step); err != nil {
		return err
	}
	queue := functions.StepQueue(steps.Name(step.Name))
	if err := s.Queue.(DelayedQueue).EnqueueAfter(ctx, queue, stepMessage(run.RunID, step.Deferrals), until.Sub(now)); err != nil {
		return fmt.Errorf("%s of run %s: send the deferred message: %w: %w", step.Name, run.RunID, err, ErrRetry)
	}
	s.Log.Info("step deferred: throttled", "runId", run.RunID, "step", step.Name, "userId", run.User.ID, "until", until, "deferral", step.Deferrals, "retryAfter", wait)
	return nil
}

// jitter spreads steps throttled together over up to a fifth of the wait (at least 1 s),
// so they do not all come back in the same second.
func jitter(wait time.Duration) time.Duration {
	return rand.N(max(wait/5, time.Second))
}

// finishedEvent is the event of the "run finished" line: run_failed, which an alert rule
// fires on, for a failed run; run_finished otherwise.
func finishedEvent(status runs.Status) logevent.Event {
	if status == runs.Failed {
		return logevent.RunFailed
	}
	return logevent.RunFinished
}
