package remediation_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// The tests of this file play someone who can write the storage account but does not hold
// TOURNIQUET_RECORD_KEY: they edit the run records in Azurite directly, as the Table REST
// API lets them, and check that the handler acts on nothing of what they wrote (contract
// section 6, "Records").

// tamper rewrites one entity of a run's partition ("run" for the header, "step-<name>" for a
// step) unconditionally, the way an attacker with a storage key would.
func (e *env) tamper(runID, rowKey string, edit func(m map[string]any)) {
	e.t.Helper()
	ctx := context.Background()
	table := tableSvc.NewClient(e.prefix + "Runs")
	got, err := table.GetEntity(ctx, runID, rowKey, nil)
	if err != nil {
		e.t.Fatalf("tamper: read %s/%s: %v", runID, rowKey, err)
	}
	var m map[string]any
	if err := json.Unmarshal(got.Value, &m); err != nil {
		e.t.Fatal(err)
	}
	for k := range m {
		if strings.HasPrefix(k, "odata.") || strings.HasPrefix(k, "Timestamp") {
			delete(m, k) // the service's own, not the entity's
		}
	}
	edit(m)
	raw, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	whatever := azcore.ETagAny
	if _, err := table.UpdateEntity(ctx, raw, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace, IfMatch: &whatever}); err != nil {
		e.t.Fatalf("tamper: write %s/%s: %v", runID, rowKey, err)
	}
}

// tamperLogged reports whether the handler logged the record as tampered, on a line the
// record-tampered alert rule fires on.
func (e *env) tamperLogged() bool { return e.eventLogged(logevent.RecordTampered) }

// A dry run flipped into a real one in the table changes nothing in the tenant: its queued
// steps are not claimed, and the run document says why.
func TestAFlippedDryRunIsNeverActedOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, DryRun: true, Steps: []string{"reset-password", "revoke-sessions", "remove-forwarding", "remove-admin-roles"}})
	if run.Status != runs.Queued || run.Tampered != "" {
		t.Fatalf("start: %s %q", run.Status, run.Tampered)
	}
	e.tamper(run.RunID, "run", func(m map[string]any) { m["DryRun"] = false })
	e.drain(1)
	if w := writes(e.sim); len(w) != 0 {
		t.Fatalf("a dry run flipped in the table changed the tenant: %v", w)
	}
	got := e.get(run.RunID)
	if got.Tampered == "" || !e.tamperLogged() {
		t.Fatalf("the run does not say it was tampered with (%q); log:\n%s", got.Tampered, e.logs.String())
	}
	for _, st := range got.Steps {
		if st.Status != runs.StepPending && st.Status != runs.StepRunning {
			t.Errorf("%s ended %s", st.Name, st.Status)
		}
	}
}

// Every field of a run's intent is sealed: a change to any one of them is recognised.
func TestEveryFieldOfARunsIntentIsSealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	for name, edit := range map[string]func(m map[string]any){
		"user id":    func(m map[string]any) { m["UserID"] = e.demo.ManagerID },
		"upn":        func(m map[string]any) { m["UPN"] = "someone.else@contoso.example" },
		"steps":      func(m map[string]any) { m["StepNames"] = m["StepNames"].(string) + ",remove-mfa-methods" },
		"options":    func(m map[string]any) { m["Options"] = `{"inboxRules":{"scope":"all","action":"delete"}}` },
		"created":    func(m map[string]any) { m["CreatedAt"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano) },
		"requester":  func(m map[string]any) { m["RequestedBy"] = "alice@contoso.example" },
		"no seal":    func(m map[string]any) { delete(m, "IntentSeal") },
		"other seal": func(m map[string]any) { m["IntentSeal"] = "AAAA" },
	} {
		t.Run(name, func(t *testing.T) {
			run := e.start(remediation.StartRequest{User: e.demo.UPN, DryRun: true, Steps: []string{"remove-forwarding"}})
			if e.get(run.RunID).Tampered != "" {
				t.Fatal("a fresh run does not verify")
			}
			e.tamper(run.RunID, "run", edit)
			if got := e.get(run.RunID); got.Tampered == "" {
				t.Fatalf("a changed %s verifies", name)
			}
		})
	}
}

// A run that waits for approval, flipped to queued in the table, is neither claimed by a
// step message nor sent on by the recovery timer, and cannot be approved afterwards.
func TestAFlippedAwaitingApprovalIsNeverActedOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: "all"})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"reset-password", "revoke-sessions"}})
	if run.Status != runs.AwaitingApproval {
		t.Fatalf("start: %s", run.Status)
	}
	e.tamper(run.RunID, "run", func(m map[string]any) { m["Status"] = string(runs.Queued) })
	// The recovery timer, long after: it must not send the steps.
	e.svc.Now = func() time.Time { return time.Now().Add(40 * time.Minute) }
	if _, err := e.svc.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if msgs := e.queue.take(); len(msgs) != 0 {
		t.Fatalf("recovery sent the steps of a run nobody approved: %v", msgs)
	}
	e.svc.Now = nil
	// A step message sent by hand (queue write) is not claimed either.
	if err := e.svc.ExecuteStep(context.Background(), run.RunID, "reset-password", remediation.Delivery{Queued: true, DequeueCount: 1}); err != nil {
		t.Fatal(err)
	}
	if w := writes(e.sim); len(w) != 0 {
		t.Fatalf("the tenant changed: %v", w)
	}
	// Nor can it be approved now: its record is not the handler's.
	_, err := e.svc.Decide(context.Background(), remediation.DecideRequest{RunID: run.RunID, Approve: true, By: remediation.Principal{Name: "bob@contoso.example", Checked: true}})
	if apperr.CodeOf(err) != apperr.RecordTampered {
		t.Fatalf("approve a tampered run: %v", err)
	}
	if !e.tamperLogged() {
		t.Fatal("not logged")
	}
}

// A rejected run flipped back to queued (its sealed decision left as it was) is not acted on.
func TestARejectedRunFlippedToQueuedIsNeverActedOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{ApprovalMode: "all"})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"reset-password"}})
	if _, err := e.svc.Decide(context.Background(), remediation.DecideRequest{RunID: run.RunID, Reason: "no", By: remediation.Principal{Name: "bob@contoso.example", Checked: true}}); err != nil {
		t.Fatal(err)
	}
	e.tamper(run.RunID, "run", func(m map[string]any) { m["Status"] = string(runs.Queued); delete(m, "FinishedAt") })
	e.tamper(run.RunID, "step-reset-password", func(m map[string]any) { m["Status"] = string(runs.StepPending) })
	if err := e.svc.ExecuteStep(context.Background(), run.RunID, "reset-password", remediation.Delivery{Queued: true, DequeueCount: 1}); err != nil {
		t.Fatal(err)
	}
	if w := writes(e.sim); len(w) != 0 {
		t.Fatalf("the tenant changed: %v", w)
	}
	if e.get(run.RunID).Tampered == "" {
		t.Fatal("verifies")
	}
}

// Steps forged "succeeded" in a dry run (flipped to a real one) do not count as a run that
// secured the account: a one-step unblock-sender stays skipped, and restore stays refused.
func TestForgedSucceededStepsSecureNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	plan := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true, Steps: []string{"reset-password", "revoke-sessions", "remove-admin-roles"}})
	if plan.Status != runs.Planned {
		t.Fatalf("dry run: %s", dump(plan))
	}
	e.tamper(plan.RunID, "run", func(m map[string]any) { m["DryRun"] = false; m["Status"] = string(runs.Succeeded) })
	for _, name := range []string{"reset-password", "revoke-sessions", "remove-admin-roles"} {
		e.tamper(plan.RunID, "step-"+name, func(m map[string]any) { m["Status"] = string(runs.StepSucceeded) })
	}
	if forged := e.get(plan.RunID); !forged.Secured() {
		t.Fatalf("the forgery did not take as meant: %s", dump(forged))
	}
	one := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"unblock-sender"}})
	if st := one.Step("unblock-sender"); st.Status != runs.StepSkipped || !blocked(e, e.demo.UPN) {
		t.Fatalf("a forged securing run let unblock-sender act: %+v", st)
	}
	if e.get(plan.RunID).Tampered == "" {
		t.Fatal("the forged run verifies")
	}
	// Restore of the forged run itself: nothing granted, every item record_tampered.
	restored, err := e.svc.Restore(context.Background(), remediation.RestoreRequest{RunID: plan.RunID})
	if err != nil && apperr.CodeOf(err) != apperr.RecordTampered {
		t.Fatalf("restore of a forged run: %v", err)
	}
	if restored != nil {
		for _, it := range restored.Items {
			if it.Result != "failed" || it.Error == nil || it.Error.Code != string(apperr.RecordTampered) {
				t.Errorf("item %+v", it)
			}
		}
	}
	if w := writes(e.sim); len(w) != 0 {
		t.Fatalf("the tenant changed: %v", w)
	}
}

// A step whose final status was edited (failed made succeeded) makes its run unverifiable,
// so a restore that needs the account secured by it is refused.
func TestAnEditedFinalStepStatusIsRecognised(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-admin-roles"}})
	if run.Status != runs.Succeeded {
		t.Fatalf("run: %s", dump(run))
	}
	// The attacker adds the two steps that would make it "secured" by rewriting StepNames and
	// writing step entities of their own.
	e.tamper(run.RunID, "run", func(m map[string]any) { m["StepNames"] = "reset-password,revoke-sessions,remove-admin-roles" })
	if got := e.get(run.RunID); got.Tampered == "" {
		t.Fatal("added steps verify")
	}
	_, err := e.svc.Restore(context.Background(), remediation.RestoreRequest{RunID: run.RunID})
	if apperr.CodeOf(err) != apperr.RecordTampered && err != nil {
		t.Fatalf("restore: %v", err)
	}
	if n := len(e.sim.RoleAssignments(e.demo.UserID)); n != 0 {
		t.Fatalf("restore of a tampered run granted %d roles", n)
	}
}

// Evidence planted on a step that has not run yet (an item "removed" that names Global
// Administrator) is not carried over as a change an earlier delivery made: carried over, it
// would be sealed with the real key, and a restore would grant it.
func TestPlantedEvidenceIsNotCarriedOverIntoARestorableChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"remove-admin-roles"}})
	planted := []runs.Change{{Action: "role_assignment_removed", Target: "Global Administrator (planted)", Restore: map[string]any{
		"kind": steps.GrantDirect, "principalId": e.demo.UserID, "roleDefinitionId": steps.GlobalAdministratorTemplateID, "directoryScopeId": "/"}}}
	raw, _ := json.Marshal(planted)
	e.tamper(run.RunID, "step-remove-admin-roles", func(m map[string]any) { m["Evidence"] = string(raw) })
	e.drain(1)
	done := e.get(run.RunID)
	if done.Status != runs.Succeeded || done.Tampered != "" {
		t.Fatalf("run: %s", dump(done))
	}
	for _, c := range done.Step("remove-admin-roles").Changes {
		if strings.Contains(c.Target, "planted") {
			t.Fatalf("planted evidence was recorded as a change: %+v", c)
		}
	}
	if _, err := e.svc.Restore(context.Background(), remediation.RestoreRequest{RunID: run.RunID, Force: true, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.sim.RoleAssignments(e.demo.UserID) {
		if strings.EqualFold(a.RoleDefinitionID, steps.GlobalAdministratorTemplateID) {
			t.Fatal("planted evidence granted Global Administrator")
		}
	}
	if !e.tamperLogged() {
		t.Error("the planted evidence was not logged")
	}
}

// A dry run's plan is not sealed: nothing was removed, so nothing of it can be granted.
func TestADryRunsPlanIsNotSealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true, Steps: []string{"remove-admin-roles", "disable-mail-protocols"}})
	n := 0
	for _, st := range run.Steps {
		for _, c := range st.Changes {
			n++
			if c.Seal != "" {
				t.Errorf("%s: planned change %s is sealed", st.Name, c.Target)
			}
		}
	}
	if n == 0 {
		t.Fatalf("the dry run planned nothing: %s", dump(run))
	}
}

// A sealed change moved to another step of the same run (whose restore grants something
// else) does not verify: the seal binds the step.
func TestASealedChangeMovedToAnotherStepDoesNotVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions", "remove-admin-roles", "block-sign-in"}})
	if run.Status != runs.Succeeded {
		t.Fatalf("run: %s", dump(run))
	}
	moved := run.Step("remove-admin-roles").Changes[0]
	raw, _ := json.Marshal(append(run.Step("block-sign-in").Changes, moved))
	e.tamper(run.RunID, "step-block-sign-in", func(m map[string]any) { m["Changes"] = string(raw) })
	restored, err := e.svc.Restore(context.Background(), remediation.RestoreRequest{RunID: run.RunID, Steps: []string{"block-sign-in"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range restored.Items {
		if it.Target == moved.Target && (it.Result != "failed" || it.Error == nil || it.Error.Code != string(apperr.RecordTampered)) {
			t.Fatalf("a change moved to another step: %+v", it)
		}
	}
}

// The eviction watch's state and an investigation's findings are sealed too: someone with
// storage write can neither end a watch, hide a rule from it, nor take the attacker's
// address out of the indicators it looks for.
func TestAnEditedWatchOrFindingsIsRecognised(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{WatchInterval: 2 * time.Second})
	for name, tt := range map[string]struct {
		rowKey string
		edit   func(m map[string]any)
	}{
		"the watch ended by hand": {"run", func(m map[string]any) { m["WatchBaseline"] = `{"ended":true}` }},
		"the watch's verdict": {"run", func(m map[string]any) {
			m["Watch"] = strings.Replace(m["Watch"].(string), `"watching"`, `"no_return_seen"`, 1)
		}},
		"the indicators": {"step-investigate", func(m map[string]any) {
			m["Findings"] = strings.ReplaceAll(m["Findings"].(string), tenantsim.AttackerIP, "192.0.2.1")
		}},
	} {
		t.Run(name, func(t *testing.T) {
			run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-3",
				Steps: []string{"investigate", "revoke-sessions"}, Options: []byte(`{"watch":{"duration":"1h"}}`)})
			if run.Watch == nil || e.get(run.RunID).Tampered != "" {
				t.Fatalf("run: %s", dump(run))
			}
			e.tamper(run.RunID, tt.rowKey, tt.edit)
			if got := e.get(run.RunID); got.Tampered == "" {
				t.Fatalf("an edited %s verifies", name)
			}
		})
	}
}
