package remediation

import (
	"context"
	"fmt"
	"time"

	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// securedWithin is how recent the run that secured an account must be for unblock-sender to
// act in a run that does not secure the account itself.
const securedWithin = 7 * 24 * time.Hour

// gate is checked right before a step acts, however it was delivered (queue, in process,
// the timer's recovery). It returns stop with the step's outcome when the step must not act,
// or a note to put in front of the step's message.
func (s *Service) gate(ctx context.Context, run *runs.Run, name steps.Name, opts steps.Options, others map[steps.Name]runs.StepStatus) (out steps.Outcome, stop bool, note string) {
	// PROTECTED_ACCOUNTS again, by object id: the run may have been recorded before the
	// account was protected (the setting changed and the handler restarted since).
	if s.protected(ctx, graph.User{ID: run.User.ID, UserPrincipalName: run.User.UserPrincipalName}) {
		msg := fmt.Sprintf("%s is a protected account (PROTECTED_ACCOUNTS): Tourniquet never changes it; the step did not act", run.User.UserPrincipalName)
		s.Log.Warn("step refused: protected account", "runId", run.RunID, "step", name, "userId", run.User.ID)
		return steps.Outcome{Status: runs.StepFailed, Changes: []runs.Change{}, Error: &runs.Error{Code: "protected_account", Message: msg}}, true, ""
	}
	if name == steps.UnblockSender && !securesItself(run) {
		return s.unblockAlone(ctx, run, opts, others)
	}
	return steps.Outcome{}, false, ""
}

// securesItself says whether the run has the steps that secure the account: reset-password
// or block-sign-in, and revoke-sessions. Only then does unblock-sender follow the run's own
// rule (every other step ended succeeded or no_change, planned in a dry run); a run with
// reset-password but not revoke-sessions leaves the attacker's sessions alive, so its
// unblock-sender follows the one-step rule.
func securesItself(run *runs.Run) bool {
	has := func(n steps.Name) bool { return run.Step(string(n)) != nil }
	return (has(steps.ResetPassword) || has(steps.BlockSignIn)) && has(steps.RevokeSessions)
}

// unblockAlone decides unblock-sender in a run that does not secure the account itself (a
// one-step run, or one without revoke-sessions or without both reset-password and
// block-sign-in): it acts only when the user's latest run that secured the account finished
// within the last 7 days, or when the request forces it with a reason.
func (s *Service) unblockAlone(ctx context.Context, run *runs.Run, opts steps.Options, others map[steps.Name]runs.StepStatus) (steps.Outcome, bool, string) {
	list, err := s.Store.ListByUser(ctx, run.User.ID, 100)
	if err != nil {
		return steps.Outcome{Status: runs.StepFailed, Changes: []runs.Change{}, Transient: true,
			Error: &runs.Error{Code: "store_unavailable", Message: "unblock-sender: could not read the user's earlier runs to see whether the account was secured; the step will be retried"}}, true, ""
	}
	var latest *runs.Run
	for _, r := range list { // newest first
		// A run that does not verify secured nothing: its "succeeded" steps may be forged.
		if r.RunID != run.RunID && r.Tampered == "" && r.Secured() && r.FinishedAt != nil {
			latest = r
			break
		}
	}
	recent := latest != nil && s.now().Sub(*latest.FinishedAt) <= securedWithin
	force := opts.UnblockSender
	switch {
	case recent:
		return steps.Outcome{}, false, fmt.Sprintf("The account was secured by run %s (finished %s).", latest.RunID, latest.FinishedAt.Format(time.RFC3339))
	case force.Force:
		s.Log.Warn("unblock-sender forced without a recent run that secured the account", "runId", run.RunID, "userId", run.User.ID, "requestedBy", run.RequestedBy, "reason", force.Reason)
		return steps.Outcome{}, false, fmt.Sprintf("Forced without a run that secured the account in the last 7 days; reason given: %q.", force.Reason)
	}
	// A user who is not restricted ends no_change as always: the step reads (as a dry run)
	// and has nothing to lift.
	sctx, cancel := context.WithTimeout(ctx, s.stepTimeout())
	look := s.Runner.Run(sctx, steps.UnblockSender, steps.Input{
		Target: steps.Target{ID: run.User.ID, UPN: run.User.UserPrincipalName, Mail: run.User.Mail, Synced: run.User.OnPremisesSyncEnabled},
		DryRun: true, Reason: run.Reason, RunID: run.RunID, Options: opts, Others: others,
	})
	cancel()
	if look.Status != runs.StepPlanned {
		return look, true, "" // no_change, skipped for a step of this run, or a failed read
	}
	why := "no run has secured the account (reset-password or block-sign-in, and revoke-sessions, succeeded)"
	if latest != nil {
		why = fmt.Sprintf("the latest run that secured the account (%s) finished %s, more than 7 days ago", latest.RunID, latest.FinishedAt.Format(time.RFC3339))
	}
	return steps.Outcome{Status: runs.StepSkipped, Changes: []runs.Change{},
		Message: "the sender was not unblocked: " + why + ". Run reset-password and revoke-sessions first (or a full remediation), or send options.unblockSender {\"force\": true, \"reason\": \"...\"}."}, true, ""
}
