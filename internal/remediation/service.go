// Package remediation runs remediations: it creates run records, applies the safety rails,
// orders the steps (over queues or in process), executes each step exactly once per run in
// the face of duplicate deliveries, and brings every run to a final status.
package remediation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/strictjson"
)

// Queue sends messages to the step queues.
type Queue interface {
	Enqueue(ctx context.Context, queue string, message []byte) error
}

// Config holds the safety rails and delivery settings.
type Config struct {
	Protected       []string      // PROTECTED_ACCOUNTS: UPNs or object ids, compared case-insensitively
	MaxPerHour      int           // MAX_REMEDIATIONS_PER_HOUR, tenant-wide; also the hourly budget of restores that grant (restore.go)
	MaxRequests     int           // new start requests per hour, dry runs and refusals included; 0: max(10×MaxPerHour, 100)
	MaxDequeueCount int           // host.json queues.maxDequeueCount: the last delivery of a message
	RedeliveryDelay time.Duration // host.json queues.visibilityTimeout: a failed delivery comes back after it
	SweepMode       string        // "report" or "remediate"
	SweepMaxUsers   int           // SWEEP_MAX_USERS
	StepTimeout     time.Duration // one step's time budget
	StepDeadline    time.Duration // STEP_DEADLINE: a throttled step is deferred until this long after its run started (default 1h)
	RecordKey       []byte        // TOURNIQUET_RECORD_KEY: seals run records and restorable changes (seal.go)
	RecordKeySet    bool          // RecordKey came from TOURNIQUET_RECORD_KEY, not generated for this process
	ApprovalMode    string        // APPROVAL_MODE: none (default), admins, all (approval.go)
	ApprovalTimeout time.Duration // APPROVAL_TIMEOUT: an undecided run ends expired after it (default 1h)
	WatchDefault    time.Duration // WATCH_DEFAULT: the eviction watch of every run that changes the tenant; 0: none (watch.go)
	WatchInterval   time.Duration // WATCH_INTERVAL: how often a watch checks (default 15m)
	// InvestigationReasonRequired (INVESTIGATION_REASON_REQUIRED) refuses an
	// investigate-only run without a reason (investigationReason).
	InvestigationReasonRequired bool
}

// Service runs remediations.
type Service struct {
	Store  *runs.Store
	Runner *steps.Runner
	Queue  Queue
	Config Config
	Log    *slog.Logger
	Now    func() time.Time

	keyOnce      sync.Once
	protectedSet protectedAccounts
}

// ErrRetry marks a failure that must fail the invocation, so the host delivers the message
// again (a transient failure on a delivery that is not the last).
var ErrRetry = errors.New("remediation: transient failure, deliver again")

// ErrGaveUp marks the last delivery of a step that failed transiently: the step is recorded
// failed and its run finished, and the invocation still fails so the host moves the message
// to the poison queue.
var ErrGaveUp = errors.New("remediation: retries exhausted")

// StartRequest asks for a new run.
type StartRequest struct {
	User           string
	Steps          []string
	DryRun         bool
	Mode           string // "async" (default) or "sync"
	Reason         string
	IdempotencyKey string
	Options        json.RawMessage
	RequestedBy    string
	RequesterID    string // the caller principal's object id under easyauth (four eyes: approval.go)
	KeyKind        string // idempotency namespace: "run" (default) or "sweep"
	// FromQueue is set for a start delivered from a queue: nobody waits on its answer, so
	// its user lookup waits out throttling (lookUpUser) rather than fail the delivery.
	FromQueue bool
	// ParentRunID names the watched run a re-containment comes from (watch.go).
	ParentRunID string
}

// Started is the answer to a start request.
type Started struct {
	Run      *runs.Run
	Replayed bool // an earlier run with the same idempotency key
	// Unsent is set when the run is recorded but its first steps could not be enqueued. An
	// HTTP caller still gets the run (the timer's recovery sends them later); a queue
	// invocation fails instead, so its redelivery replays the run and sends them at once.
	Unsent error
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// ValidUser reports whether s is a user object id (GUID) or a user principal name.
func ValidUser(s string) bool { return graph.ValidID(s) || graph.ValidUPN(s) }

// maxOptionsBytes caps a request's options: they are stored with the run, and no real
// option set comes near it.
const maxOptionsBytes = 16 << 10

func (s *Service) parse(req StartRequest) ([]steps.Name, steps.Options, error) {
	if !ValidUser(req.User) {
		return nil, steps.Options{}, apperr.New(apperr.Invalid, "user must be a user principal name or an object id (GUID)")
	}
	switch req.Mode {
	case "", "async", "sync":
	default:
		return nil, steps.Options{}, apperr.New(apperr.Invalid, "mode must be \"async\" or \"sync\"")
	}
	if len(req.Reason) > 2000 {
		return nil, steps.Options{}, apperr.New(apperr.Invalid, "reason is longer than 2000 characters")
	}
	if len(req.IdempotencyKey) > 256 {
		return nil, steps.Options{}, apperr.New(apperr.Invalid, "idempotencyKey is longer than 256 characters")
	}
	if len(req.Options) > maxOptionsBytes {
		return nil, steps.Options{}, apperr.New(apperr.Invalid, "options are larger than %d bytes", maxOptionsBytes)
	}
	if len(req.Options) > 0 {
		// Exact names only, also inside options (a queue message reaches here undecoded).
		if err := strictjson.Check(req.Options, reflect.TypeOf(steps.Options{})); err != nil {
			return nil, steps.Options{}, apperr.New(apperr.Invalid, "options: %v", err)
		}
	}
	opts, err := steps.ParseOptions(req.Options)
	if err != nil {
		return nil, opts, apperr.New(apperr.Invalid, "%v", err)
	}
	want := map[steps.Name]bool{}
	for _, raw := range req.Steps {
		name, ok := catalog.Parse(raw)
		if !ok {
			return nil, opts, apperr.New(apperr.Invalid, "unknown step %q; steps are %v", raw, steps.All)
		}
		want[name] = true
	}
	// No steps named: the full remediation, the catalog's default set.
	if len(want) == 0 {
		return slices.Clone(catalog.Default), opts, nil
	}
	var names []steps.Name
	for _, n := range steps.All {
		if want[n] {
			names = append(names, n)
		}
	}
	if err := s.investigationReason(names, req.Reason); err != nil {
		return nil, opts, err
	}
	return names, opts, nil
}

// investigationReason refuses, under INVESTIGATION_REASON_REQUIRED, an investigate-only run
// (dry or not: it reads the same) without a reason. Such a run changes nothing: it only
// reads a person's sign-ins, audit events and mail trace, so whoever asks must say why, and
// the reason is recorded and logged with who asked. A run that also contains the account
// is a remediation, started with the power to remediate, and its investigation serves the
// containment: it is not held to this (nor is the full run, whose reason the contract leaves
// optional). The check comes before anything is read or recorded: a refusal leaves no run.
func (s *Service) investigationReason(names []steps.Name, reason string) error {
	if !s.Config.InvestigationReasonRequired || len(names) != 1 || names[0] != steps.Investigate {
		return nil
	}
	if strings.TrimSpace(reason) == "" {
		return apperr.New(apperr.Invalid, "reason is required for an investigate-only run (INVESTIGATION_REASON_REQUIRED=true): it reads the user's sign-ins and mail, so say why, e.g. the incident or ticket number")
	}
	return nil
}

// Start validates a request, applies the safety rails and starts a run: in async mode it
// enqueues the first steps and returns at once; in sync mode it returns the finished run.
func (s *Service) Start(ctx context.Context, req StartRequest) (*Started, error) {
	names, opts, err := s.parse(req)
	if err != nil {
		return nil, err
	}
	// Options are kept as parsed and marshalled again, never as the caller's bytes: what is
	// stored is exactly what the steps act on, and it is what the fingerprint binds.
	canonical, err := json.Marshal(opts)
	if err != nil {
		return nil, apperr.Wrap(apperr.Internal, err, "internal error")
	}
	var stored json.RawMessage
	if o := strings.TrimSpace(string(req.Options)); o != "" && o != "null" {
		stored = canonical
	}
	kind := req.KeyKind
	if kind == "" {
		kind = "run"
	}
	// A replay must answer the first run even when Graph is unreachable now: look the key up
	// before anything else.
	if req.IdempotencyKey != "" {
		if holder, run, err := s.existing(ctx, kind, req.IdempotencyKey); err != nil || run != nil {
			if err != nil {
				return nil, err
			}
			userKey, sameUser := userKeyOf(run.User, req.User)
			if !sameUser || !claimedFor(holder, fingerprint(userKey, names, req.DryRun, canonical)) {
				return nil, s.keyReused(kind, req.IdempotencyKey, run.RunID)
			}
			return s.replay(ctx, run), nil
		}
	}

	// Every new request reads the directory and may leave a record (a refusal too): it takes
	// a slot of the request budget first, so a misfiring caller is held back before it can
	// throttle the identity or fill the tables. This is also the check that the store
	// answers: no change to the tenant without a record of it.
	// Each caller (requestedBy) has a share of it first, so one misfiring caller uses up its
	// own share and not the budget of the others.
	share, retryAfter, err := s.Store.Reserve(ctx, runs.CallerLimit(req.RequestedBy), s.now(), s.callerBudget())
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	} else if share == nil {
		e := apperr.New(apperr.RateLimited, "more than %d start requests from this caller (%s) in the last hour (dry runs and refusals included): refused so one misfiring caller cannot use up the budget of the others", s.callerBudget(), req.RequestedBy)
		e.RetryAfter = retryAfter
		s.Log.Warn("start request refused: the caller's share of the request budget is used up", "requestedBy", req.RequestedBy, "share", s.callerBudget(), "retryAfter", retryAfter)
		return nil, e
	}
	if slot, retryAfter, err := s.Store.Reserve(ctx, runs.RequestLimit, s.now(), s.requestBudget()); err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	} else if slot == nil {
		// Not counted against the caller either: nothing was read or recorded.
		if err := s.Store.GiveBack(ctx, share); err != nil {
			s.Log.Warn("could not give back the caller's share of the request budget", "requestedBy", req.RequestedBy, "err", err)
		}
		e := apperr.New(apperr.RateLimited, "more than %d start requests in the last hour (dry runs and refusals included): refused so a misfiring caller cannot throttle the tenant's identity", s.requestBudget())
		e.RetryAfter = retryAfter
		s.Log.Warn("start request refused: request budget used up", "budget", s.requestBudget(), "retryAfter", retryAfter)
		return nil, e
	}

	// The user is resolved first (a read), so a protected account is recognised by either
	// identifier and its refusal is recorded under both. One named as protected is refused
	// even when the lookup fails.
	// The lockout guard's first question (does the user hold Global Administrator?) needs
	// nothing of the lookup: it is asked beside it.
	quick := s.startQuickGA(ctx, req.User, names, req.DryRun)
	user, err := s.lookUpUser(ctx, req)
	if err != nil {
		named := graph.User{ID: req.User, UserPrincipalName: req.User}
		switch {
		case s.protected(ctx, named):
			user = graph.User{UserPrincipalName: req.User}
			if graph.ValidID(req.User) {
				user = graph.User{ID: req.User}
			}
		case graph.IsNotFound(err):
			return nil, apperr.New(apperr.NotFound, "user %s was not found in the directory", req.User)
		default:
			return nil, apperr.Wrap(apperr.Upstream, err, "could not read user %s from Microsoft Graph", req.User)
		}
	}

	run := &runs.Run{
		RunID:          newRunID(s.now()),
		Status:         runs.Queued,
		User:           runs.UserRef{ID: user.ID, UserPrincipalName: user.UserPrincipalName, Mail: user.Mail, OnPremisesSyncEnabled: user.OnPremisesSyncEnabled},
		DryRun:         req.DryRun,
		Mode:           req.Mode,
		Reason:         req.Reason,
		RequestedBy:    req.RequestedBy,
		RequesterID:    req.RequesterID,
		ParentRunID:    req.ParentRunID,
		IdempotencyKey: req.IdempotencyKey,
		Options:        stored,
		CreatedAt:      s.now(),
	}
	if run.Mode == "" {
		run.Mode = "async"
	}
	for _, n := range names {
		run.Steps = append(run.Steps, runs.Step{Name: string(n), Status: runs.StepPending, Changes: []runs.Change{}})
	}

	// From here on the run gets recorded and acted on: a caller that hangs up (a playbook's
	// HTTP timeout) must not leave it half recorded or its steps cut off halfway. Every store
	// call and step keeps its own time limit.
	ctx = context.WithoutCancel(ctx)

	if s.protected(ctx, user) {
		return nil, s.refuse(ctx, run, apperr.New(apperr.Protected, "%s is a protected account (PROTECTED_ACCOUNTS): Tourniquet never changes it", user.UserPrincipalName))
	}

	if req.IdempotencyKey != "" {
		userKey, _ := userKeyOf(run.User, req.User)
		fp := fingerprint(userKey, names, req.DryRun, canonical)
		holder, claimed, err := s.Store.ClaimKey(ctx, kind, req.IdempotencyKey, runs.KeyHolder{RunID: run.RunID, Fingerprint: fp})
		if err != nil {
			return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
		}
		if !claimed {
			if !claimedFor(holder, fp) {
				return nil, s.keyReused(kind, req.IdempotencyKey, holder.RunID)
			}
			if prior, err := s.waitForRun(ctx, holder.RunID); err == nil {
				return s.replay(ctx, prior), nil
			}
			// The holder never recorded its run (it crashed in between): carry on under its id,
			// so that at most one run ever exists for the key.
			run.RunID = holder.RunID
		}
	}

	var slot *runs.Reservation
	if !req.DryRun {
		var retryAfter time.Duration
		slot, retryAfter, err = s.Store.Reserve(ctx, runs.ChangeLimit, s.now(), s.Config.MaxPerHour)
		if err != nil {
			s.releaseKey(ctx, kind, req.IdempotencyKey)
			return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
		}
		if slot == nil {
			s.releaseKey(ctx, kind, req.IdempotencyKey)
			e := apperr.New(apperr.RateLimited, "more than %d remediations in the last hour (MAX_REMEDIATIONS_PER_HOUR): refused so a misfiring playbook cannot lock out the tenant", s.Config.MaxPerHour)
			e.RetryAfter = retryAfter
			return nil, s.refuse(ctx, run, e)
		}
	}

	if run.Mode == "sync" {
		run.Status = runs.Running
	}
	// The lockout guard (lockout.go) holds its tenant-wide lock, when it took it, until the
	// run is recorded: the next guard then counts this run.
	guardWait, guardWhy, releaseGuard, err := s.lockoutGuard(ctx, user, names, req.DryRun, run.RunID, quick)
	if err != nil {
		if gerr := s.Store.GiveBack(ctx, slot); gerr != nil {
			s.Log.Error("give back a rate-limit slot", "err", gerr)
		}
		s.releaseKey(ctx, kind, req.IdempotencyKey)
		return nil, err
	}
	defer releaseGuard()
	// Four eyes (contract 6.1): a run that needs approval is recorded waiting and changes
	// nothing until a second person approves it. It took its rate-limit slot above, once.
	wait, why := s.approvalNeeded(ctx, user, names, req.DryRun)
	if guardWait {
		if why != "" {
			guardWhy += "; " + why
		}
		wait, why = true, guardWhy
	}
	if wait {
		expires := s.now().Add(s.approvalTimeout())
		run.Status = runs.AwaitingApproval
		run.Mode = "async" // approved later, it goes through the queues whatever was asked
		run.Approval = runs.Approval{Required: true, Why: why, ExpiresAt: &expires}
		// Listed before the run is recorded, so the timer always finds a waiting run.
		if err := s.Store.AddAwaiting(ctx, runs.Awaiting{RunID: run.RunID, Deadline: expires}); err != nil {
			if gerr := s.Store.GiveBack(ctx, slot); gerr != nil {
				s.Log.Error("give back a rate-limit slot", "err", gerr)
			}
			s.releaseKey(ctx, kind, req.IdempotencyKey)
			return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
		}
	}
	err = s.Store.Create(ctx, run)
	releaseGuard()
	if err != nil {
		// Not recorded by this request: its slot must not count against the hour.
		if gerr := s.Store.GiveBack(ctx, slot); gerr != nil {
			s.Log.Error("give back a rate-limit slot", "err", gerr)
		}
		if errors.Is(err, runs.ErrConflict) {
			if prior, gerr := s.Store.Get(ctx, run.RunID); gerr == nil {
				return s.replay(ctx, prior), nil
			}
		}
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	}
	s.Log.Info("run started", "runId", run.RunID, "userId", user.ID, "steps", names, "dryRun", run.DryRun, "mode", run.Mode, "requestedBy", run.RequestedBy)

	var unsent error
	if run.Waiting() {
		s.Log.Warn("run awaits approval", "runId", run.RunID, "userId", user.ID, "steps", names, "requestedBy", run.RequestedBy, "why", run.Approval.Why, "expiresAt", run.Approval.ExpiresAt)
	} else if run.Mode == "sync" {
		s.executeInProcess(ctx, run, names)
	} else if err := s.advance(ctx, run.RunID, false); err != nil {
		s.Log.Error("enqueue first steps", "runId", run.RunID, "err", err)
		unsent = err
	}
	final, err := s.Store.Get(ctx, run.RunID)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	}
	return &Started{Run: final, Unsent: unsent}, nil
}

// lookUpUser reads the user to remediate. A queued start whose lookup Graph throttles
// (429, or held back by the tenant's shared throttle) past the client's own retries asks
// again after the service's Retry-After plus jitter, for up to half the host's redelivery
// delay (RedeliveryDelay), before it fails its delivery as contract section 3 says. A
// failed delivery comes back only after that delay (30 s in host.json), and a surge of
// queued starts is exactly when the tenant throttles: with 100 users at once, a quarter of
// the starts failed their first lookup and the runs then sat idle for 15 s
// (docs/performance.md). Any other failure, and every failure of an HTTP start (a caller is
// waiting), is returned at once.
func (s *Service) lookUpUser(ctx context.Context, req StartRequest) (graph.User, error) {
	giveUpAt := time.Now().Add(s.Config.RedeliveryDelay / 2)
	for {
		user, err := s.Runner.Directory.GetUser(ctx, req.User)
		if err == nil || !req.FromQueue {
			return user, err
		}
		wait, throttled := steps.Throttled(err)
		if !throttled {
			return user, err
		}
		if wait <= 0 {
			wait = time.Second
		}
		wait += jitter(wait)
		if time.Now().Add(wait).After(giveUpAt) {
			return user, err
		}
		s.Log.Info("user lookup throttled; the queued start asks again", "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return user, err
		case <-t.C:
		}
	}
}

// requestBudget is the tenant-wide hourly number of new start requests (dry runs and
// refusals included): ten times MAX_REMEDIATIONS_PER_HOUR, at least 100, so dry runs stay
// possible when real runs are limited hard.
func (s *Service) requestBudget() int {
	if s.Config.MaxRequests > 0 {
		return s.Config.MaxRequests
	}
	return max(10*s.Config.MaxPerHour, 100)
}

// callerBudget is one caller's share of requestBudget: half of it. With a second caller in
// the tenant, one that misfires leaves at least half the hour's requests to the others, and
// a caller that works as meant stays far below it (by default 100 an hour against
// MAX_REMEDIATIONS_PER_HOUR's 20 changes; the sweep starts at most SWEEP_MAX_USERS, 10,
// every 15 minutes). A smaller share would starve a single busy playbook, which is often the
// only caller.
func (s *Service) callerBudget() int {
	return max(s.requestBudget()/2, 1)
}

// fingerprint binds an idempotency key to the request that claimed it: the user (its object
// id once resolved, else the identifier as given, lower-cased), the set of steps, dryRun and
// the options as parsed. Mode and reason are not part of it: they do not change what the
// run does to the tenant.
func fingerprint(userKey string, names []steps.Name, dryRun bool, canonicalOptions []byte) string {
	sorted := make([]string, len(names))
	for i, n := range names {
		sorted[i] = string(n)
	}
	slices.Sort(sorted)
	doc, _ := json.Marshal(struct {
		User    string          `json:"user"`
		Steps   []string        `json:"steps"`
		DryRun  bool            `json:"dryRun"`
		Options json.RawMessage `json:"options"`
	}{userKey, sorted, dryRun, canonicalOptions})
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:])
}

// userKeyOf returns the user part of a fingerprint for a run's user, and whether requested
// (a UPN or object id) names that user.
func userKeyOf(u runs.UserRef, requested string) (string, bool) {
	same := strings.EqualFold(requested, u.ID) || strings.EqualFold(requested, u.UserPrincipalName)
	if u.ID != "" {
		return strings.ToLower(u.ID), same
	}
	return strings.ToLower(requested), same
}

// claimedFor reports whether a key's holder was claimed by the request with fingerprint fp.
// A key claimed before fingerprints were stored is taken as the same request (the behaviour
// it was claimed under).
func claimedFor(holder runs.KeyHolder, fp string) bool {
	return holder.Fingerprint == "" || holder.Fingerprint == fp
}

func (s *Service) keyReused(kind, key, runID string) error {
	s.Log.Warn("idempotency key reused for a different request", "kind", kind, "runId", runID)
	return apperr.New(apperr.KeyReused, "the idempotency key belongs to run %s, which was started for a different user, steps, dryRun or options; nothing was started (use a new key for a new request)", runID)
}

// replay answers a request whose idempotency key already has a run. An async run that is
// not finished is advanced once more: if the request that created it died before its first
// steps were enqueued (a redelivered queue message lands here), this sends them.
func (s *Service) replay(ctx context.Context, run *runs.Run) *Started {
	started := &Started{Run: run, Replayed: true}
	if run.Mode == "async" && !isFinal(run.Status) {
		if err := s.advance(ctx, run.RunID, true); err != nil {
			s.Log.Error("advance a replayed run", "runId", run.RunID, "err", err)
			started.Unsent = err
		}
	}
	return started
}

func (s *Service) existing(ctx context.Context, kind, key string) (runs.KeyHolder, *runs.Run, error) {
	holder, found, err := s.Store.LookupKey(ctx, kind, key)
	if err != nil {
		return holder, nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	}
	if !found {
		return holder, nil, nil
	}
	run, err := s.waitForRun(ctx, holder.RunID)
	if err != nil {
		return holder, nil, nil // claimed but never recorded: Start carries on under the holder's id
	}
	return holder, run, nil
}

// waitForRun reads the run that holds a key, giving a concurrent creator a moment to
// record it.
func (s *Service) waitForRun(ctx context.Context, runID string) (*runs.Run, error) {
	var err error
	for i := 0; i < 10; i++ {
		var run *runs.Run
		if run, err = s.Store.Get(ctx, runID); err == nil {
			return run, nil
		}
		if !errors.Is(err, runs.ErrNotFound) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil, err
}

func (s *Service) releaseKey(ctx context.Context, kind, key string) {
	if key == "" {
		return
	}
	if err := s.Store.ReleaseKey(ctx, kind, key); err != nil {
		s.Log.Error("release idempotency key", "err", err)
	}
}

// refuse records a refused run (so the refusal is on record) and returns the refusal.
func (s *Service) refuse(ctx context.Context, run *runs.Run, refusal *apperr.Error) error {
	now := s.now()
	run.Status = runs.Refused
	run.FinishedAt = &now
	run.Error = &runs.Error{Code: string(refusal.Code), Message: refusal.Message}
	for i := range run.Steps {
		run.Steps[i].Status = runs.StepSkipped
		run.Steps[i].Message = "refused: " + refusal.Message
	}
	if err := s.Store.Create(ctx, run); err != nil {
		return apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	}
	s.Log.Warn("run refused", "runId", run.RunID, "userId", run.User.ID, "code", refusal.Code, "reason", refusal.Message)
	refused := *refusal
	refused.Err = &RefusedRun{Run: run}
	return &refused
}

// RefusedRun carries the refused run's record inside a refusal error.
type RefusedRun struct{ Run *runs.Run }

func (r *RefusedRun) Error() string { return "refused run " + r.Run.RunID }

// Get returns a run document.
func (s *Service) Get(ctx context.Context, runID string) (*runs.Run, error) {
	if !runs.ValidRunID(runID) {
		return nil, apperr.New(apperr.NotFound, "no run %q", runID)
	}
	run, err := s.Store.Get(ctx, runID)
	switch {
	case errors.Is(err, runs.ErrNotFound):
		return nil, apperr.New(apperr.NotFound, "no run %q", runID)
	case err != nil:
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	}
	// A run past its approval window reads as what it is, expired, even before the timer
	// comes by.
	if run.Waiting() {
		if after, err := s.expireIfDue(ctx, run); err == nil {
			run = after
		} else {
			s.Log.Error("expire a run past its approval window", "runId", runID, "err", err)
		}
	}
	return run, nil
}

// List returns a user's runs, newest first.
func (s *Service) List(ctx context.Context, user string) ([]*runs.Run, error) {
	if !ValidUser(user) {
		return nil, apperr.New(apperr.Invalid, "user must be a user principal name or an object id (GUID)")
	}
	list, err := s.Store.ListByUser(ctx, user, 100)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	}
	return list, nil
}

func newRunID(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}

func (s *Service) stepTimeout() time.Duration {
	if s.Config.StepTimeout > 0 {
		return s.Config.StepTimeout
	}
	return 2 * time.Minute
}

func (s *Service) decodeOptions(raw json.RawMessage) steps.Options {
	o, err := steps.ParseOptions(raw)
	if err != nil {
		s.Log.Error("stored options no longer parse", "err", err)
	}
	return o
}

// Sweeps returns the latest sweep records, newest first.
func (s *Service) Sweeps(ctx context.Context) ([]runs.SweepRecord, error) {
	list, err := s.Store.Sweeps(ctx, 50)
	if err != nil {
		return nil, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
	}
	if list == nil {
		list = []runs.SweepRecord{}
	}
	return list, nil
}
