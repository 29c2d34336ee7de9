package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// handleInvocation serves POST /{FunctionName}: the host's invocation of a queue or timer
// function. A 2xx answer completes the invocation (the message is deleted); any other
// answer fails it, so the host delivers the message again, up to maxDequeueCount, then
// moves it to the poison queue.
func (s *Server) handleInvocation(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("function")
	fn, ok := functions.Lookup(name)
	if !ok {
		s.answer(w, http.StatusNotFound, fmt.Sprintf("no function %q", name))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.answer(w, http.StatusBadRequest, "could not read the invocation")
		return
	}
	inv, err := functions.DecodeInvocation(body)
	if err != nil {
		s.answer(w, http.StatusBadRequest, err.Error())
		return
	}
	if fn.Trigger == functions.HTTP {
		s.serveHTTPInvocation(w, r, inv)
		return
	}
	var outcome error
	switch {
	case fn.Name == functions.RecoverTimer:
		outcome = s.runRecover(r)
	case fn.Trigger == functions.Timer:
		outcome = s.runSweep(r, inv)
	case fn.Queue == functions.RemediationsQueue:
		outcome = s.startFromQueue(r, inv)
	case fn.Queue == functions.WatchQueue:
		outcome = s.watchFromQueue(r, inv)
	default:
		outcome = s.stepFromQueue(r, inv, fn)
	}
	if outcome != nil {
		s.log.Error("invocation failed; the host delivers it again", "function", name, "dequeueCount", inv.DequeueCount(), "err", outcome)
		s.answer(w, http.StatusInternalServerError, outcome.Error())
		return
	}
	s.answer(w, http.StatusOK, "")
}

// answer writes the response document the host expects: always a JSON object.
func (s *Server) answer(w http.ResponseWriter, status int, logLine string) {
	resp := functions.Response{Outputs: map[string]any{}, Logs: []string{}}
	if logLine != "" {
		resp.Logs = append(resp.Logs, logLine)
	}
	writeJSON(w, status, resp)
}

func (s *Server) runSweep(r *http.Request, inv functions.Invocation) error {
	// Runs past their approval window end expired even when the sweep itself fails
	// (Exchange unreachable): that needs the run-record store only.
	if n, err := s.service.ExpireApprovals(r.Context()); err != nil {
		s.log.Error("expire runs awaiting approval", "err", err)
	} else if n > 0 {
		s.log.Warn("runs expired without an approval decision", "count", n)
	}
	rec, err := s.service.Sweep(r.Context())
	if err != nil {
		return err
	}
	s.log.Info("sweep", "outcome", rec.Outcome, "restricted", rec.Restricted, "started", len(rec.Started))
	if n, err := s.service.Recover(r.Context()); err != nil {
		s.log.Error("recover unfinished runs", "err", err)
	} else if n > 0 {
		s.log.Warn("recovered runs that stopped moving", "count", n)
	}
	return nil
}

// runRecover moves runs that stopped moving (remediation.Service.Recover). A failure to
// reach the store is logged and the invocation still succeeds: the next minute tries again.
func (s *Server) runRecover(r *http.Request) error {
	if n, err := s.service.Recover(r.Context()); err != nil {
		s.log.Error("recover unfinished runs", "err", err)
	} else if n > 0 {
		s.log.Warn("recovered runs that stopped moving", "count", n)
	}
	return nil
}

// watchFromQueue carries out one check of an eviction watch ({"runId", "check"}).
func (s *Server) watchFromQueue(r *http.Request, inv functions.Invocation) error {
	raw, err := inv.Message(functions.MessageBinding)
	var msg struct {
		RunID string `json:"runId"`
		Check int    `json:"check"`
	}
	if err == nil {
		err = decodeStrict(raw, &msg)
	}
	if err != nil || msg.Check < 1 || !runs.ValidRunID(msg.RunID) {
		s.log.Error("watch message dropped: not a valid message", "err", err)
		return nil // retrying cannot fix it
	}
	return s.service.CheckWatch(r.Context(), msg.RunID, msg.Check)
}

// queueMessage is the union of the queue messages of contract section 3.
type queueMessage struct {
	RunID          string          `json:"runId"`
	User           string          `json:"user"`
	Steps          []string        `json:"steps"`
	DryRun         bool            `json:"dryRun"`
	Reason         string          `json:"reason"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Options        json.RawMessage `json:"options"`
	Deferral       int             `json:"deferral"` // set by a throttled step's deferral (contract 6.2)
}

func (s *Server) decodeMessage(inv functions.Invocation) (queueMessage, error) {
	var msg queueMessage
	raw, err := inv.Message(functions.MessageBinding)
	if err != nil {
		return msg, err
	}
	if err := decodeStrict(raw, &msg); err != nil {
		return msg, err
	}
	return msg, nil
}

// deliveryKey derives an idempotency key from the queue message id, so a redelivered
// message that starts a run finds the run its first delivery started.
func deliveryKey(inv functions.Invocation, queue string) string {
	if id := inv.MetaString("Id"); id != "" {
		return "queue:" + queue + ":" + id
	}
	return ""
}

func (s *Server) startFromQueue(r *http.Request, inv functions.Invocation) error {
	msg, err := s.decodeMessage(inv)
	if err != nil {
		s.log.Error("remediations message dropped: not a valid message", "err", err)
		return nil // retrying cannot fix it
	}
	key := msg.IdempotencyKey
	if key == "" {
		key = deliveryKey(inv, functions.RemediationsQueue)
	}
	started, err := s.service.Start(r.Context(), remediation.StartRequest{
		User: msg.User, Steps: msg.Steps, DryRun: msg.DryRun, Mode: "async", Reason: msg.Reason,
		IdempotencyKey: key, Options: msg.Options, FromQueue: true, RequestedBy: "queue:" + functions.RemediationsQueue,
	})
	return s.queueOutcome(started, err)
}

func (s *Server) stepFromQueue(r *http.Request, inv functions.Invocation, fn functions.Function) error {
	msg, err := s.decodeMessage(inv)
	if err != nil {
		s.log.Error("step message dropped: not a valid message", "queue", fn.Queue, "err", err)
		return nil
	}
	if msg.RunID != "" {
		return s.service.ExecuteStep(r.Context(), msg.RunID, fn.Step, remediation.Delivery{Queued: true, DequeueCount: inv.DequeueCount(), MessageID: inv.MetaString("Id"), Deferral: msg.Deferral})
	}
	key := msg.IdempotencyKey
	if key == "" {
		key = deliveryKey(inv, fn.Queue)
	}
	// The one-step run goes through this same queue as {"runId"}, so its transient failures
	// are retried by redelivery and end in the poison queue like any other step's.
	started, err := s.service.Start(r.Context(), remediation.StartRequest{
		User: msg.User, Steps: []string{string(fn.Step)}, DryRun: msg.DryRun, Mode: "async", Reason: msg.Reason,
		IdempotencyKey: key, Options: msg.Options, FromQueue: true, RequestedBy: "queue:" + fn.Queue,
	})
	return s.queueOutcome(started, err)
}

// queueOutcome decides whether a start is worth another delivery: when the store or a
// service was unreachable, or the run's first steps could not be enqueued (the redelivery
// replays the run and sends them). Refusals and bad input are final (and on record).
func (s *Server) queueOutcome(started *remediation.Started, err error) error {
	if err == nil {
		if started != nil && started.Unsent != nil {
			return fmt.Errorf("run %s recorded but its steps were not enqueued: %w", started.Run.RunID, started.Unsent)
		}
		return nil
	}
	switch apperr.CodeOf(err) {
	case apperr.Unavailable, apperr.Upstream, apperr.Internal:
		return err
	case apperr.KeyReused:
		// Another request holds the key: delivering this one again cannot change that.
		s.log.Error("queued request dropped: its idempotency key belongs to a different request", "err", err)
		return nil
	}
	var refused *remediation.RefusedRun
	if errors.As(err, &refused) {
		s.log.Warn("queued run refused", "runId", refused.Run.RunID, "reason", strings.TrimSpace(err.Error()))
		return nil
	}
	s.log.Error("queued request dropped", "err", err)
	return nil
}
