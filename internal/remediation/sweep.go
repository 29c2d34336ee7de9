package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// SweepKey is the idempotency key of a restricted user: the sender address and the block's
// creation time, so a user blocked again later is handled again.
func SweepKey(sender string, created time.Time) string {
	return "sweep:" + strings.ToLower(sender) + "|" + created.UTC().Format(time.RFC3339)
}

// Sweep lists the restricted users (blocked senders) and, for each one that has no run yet,
// records a dry run (report mode) or starts a full remediation (remediate mode). When more
// users are newly restricted than SweepMaxUsers it acts on none: that is a tenant-wide
// incident for people, not for automation.
func (s *Service) Sweep(ctx context.Context) (runs.SweepRecord, error) {
	rec := runs.SweepRecord{At: s.now(), Mode: s.Config.SweepMode, Started: []string{}}
	if rec.Mode == "" {
		rec.Mode = "report"
	}
	blocked, err := s.Runner.Mailboxes.BlockedSenders(ctx, "")
	if err != nil {
		rec.Outcome, rec.Message = "failed", "could not list restricted users: "+err.Error()
		return rec, errors.Join(err, s.Store.AddSweep(ctx, rec))
	}
	rec.Restricted = len(blocked)

	type candidate struct {
		sender  string
		created time.Time
		reason  string
	}
	var fresh []candidate
	for _, b := range blocked {
		// Exchange names the sender by an SMTP address; one that does not look like one
		// never reaches the directory's filter.
		if !graph.ValidUPN(b.SenderAddress) {
			s.Log.Warn("restricted sender address is not a well-formed address; left alone", "sender", b.SenderAddress)
			continue
		}
		_, found, err := s.Store.LookupKey(ctx, "sweep", SweepKey(b.SenderAddress, b.CreatedDatetime))
		if err != nil {
			return rec, apperr.Wrap(apperr.Unavailable, err, "the run-record store is unreachable")
		}
		if !found {
			fresh = append(fresh, candidate{b.SenderAddress, b.CreatedDatetime, b.Reason})
		}
	}
	max := s.Config.SweepMaxUsers
	if max <= 0 {
		max = 10
	}
	if len(fresh) > max {
		rec.Outcome = "over_limit"
		rec.Message = fmt.Sprintf("%d users are newly restricted (more than SWEEP_MAX_USERS=%d): none was remediated. This looks like a tenant-wide incident; investigate by hand.", len(fresh), max)
		s.Log.Error("sweep refused: too many restricted users", "newlyRestricted", len(fresh), "max", max)
		return rec, s.Store.AddSweep(ctx, rec)
	}

	rec.Outcome = "ok"
	for _, c := range fresh {
		// The address is a proxy address of the user, not necessarily its UPN: resolve it
		// to the user's object id, which the run is started for.
		user, err := s.Runner.Directory.UserByProxyAddress(ctx, c.sender)
		switch {
		case graph.IsNotFound(err):
			s.Log.Warn("restricted sender is not a user of the directory; left alone", "sender", c.sender)
			continue
		case err != nil:
			s.Log.Error("sweep could not resolve a restricted sender", "sender", c.sender, "err", err)
			rec.Outcome = "partial"
			rec.Message = "some restricted users could not be handled; see the logs"
			continue
		}
		reason := fmt.Sprintf("restricted by Exchange Online at %s", c.created.UTC().Format(time.RFC3339))
		if c.reason != "" {
			reason += " (" + c.reason + ")"
		}
		req := StartRequest{
			User: user.ID, DryRun: rec.Mode != "remediate", Reason: reason, RequestedBy: "sweep",
			IdempotencyKey: SweepKey(c.sender, c.created), KeyKind: "sweep",
		}
		if req.DryRun {
			req.Mode = "sync" // a dry run only reads: record the planned run at once
		}
		started, err := s.Start(ctx, req)
		var refused *RefusedRun
		switch code := apperr.CodeOf(err); {
		case err == nil:
			rec.Started = append(rec.Started, started.Run.RunID)
		case code == apperr.RateLimited:
			rec.Outcome = "rate_limited"
			rec.Message = "MAX_REMEDIATIONS_PER_HOUR reached: the sweep holds back until the next window"
			if errors.As(err, &refused) {
				rec.Started = append(rec.Started, refused.Run.RunID)
			}
			return rec, s.Store.AddSweep(ctx, rec)
		case code == apperr.Protected:
			if errors.As(err, &refused) {
				rec.Started = append(rec.Started, refused.Run.RunID)
			}
			s.markSwept(ctx, c.sender, user.ID, c.created, refused)
		case code == apperr.NotFound:
			s.Log.Warn("restricted sender is not a user of the directory; left alone", "sender", c.sender)
		default:
			s.Log.Error("sweep could not start a run", "sender", c.sender, "err", err)
			rec.Outcome = "partial"
			rec.Message = "some restricted users could not be handled; see the logs"
		}
	}
	return rec, s.Store.AddSweep(ctx, rec)
}

// markSwept claims the sweep key of a refused (protected) user so each sweep does not record
// another refusal.
func (s *Service) markSwept(ctx context.Context, sender, userID string, created time.Time, refused *RefusedRun) {
	if refused == nil {
		return
	}
	run := refused.Run
	names := make([]steps.Name, len(run.Steps))
	for i, st := range run.Steps {
		names[i] = steps.Name(st.Name)
	}
	canonical, _ := json.Marshal(steps.Options{})
	userKey, _ := userKeyOf(run.User, userID)
	claim := runs.KeyHolder{RunID: run.RunID, Fingerprint: fingerprint(userKey, names, run.DryRun, canonical)}
	if _, _, err := s.Store.ClaimKey(ctx, "sweep", SweepKey(sender, created), claim); err != nil {
		s.Log.Error("mark protected sender swept", "err", err)
	}
}
