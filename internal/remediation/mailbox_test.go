package remediation_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// exchangeCalls counts the Exchange requests by cmdlet.
func exchangeCalls(sim *tenantsim.Sim) (total int, byCmdlet map[string]int) {
	byCmdlet = map[string]int{}
	for _, r := range sim.Requests() {
		if r.Service == tenantsim.ServiceExchange {
			total++
			byCmdlet[r.Cmdlet]++
		}
	}
	return total, byCmdlet
}

func TestMailboxlessUserIsRemediatedAndTheRunSucceeds(t *testing.T) {
	t.Parallel()
	for _, notFound := range []int{http.StatusNotFound, http.StatusBadRequest} {
		t.Run(http.StatusText(notFound), func(t *testing.T) {
			t.Parallel()
			e := newEnvSeeded(t, remediation.Config{}, tenantsim.SeedNoMailbox)
			e.sim.SetNotFoundStatus(notFound)
			e.sim.ResetRequests()
			run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-2"})

			want := map[string]runs.StepStatus{
				"reset-password": runs.StepSucceeded, "revoke-sessions": runs.StepSucceeded, "remove-forwarding": runs.StepNoChange,
				"remove-inbox-rules": runs.StepNoChange, "remove-admin-roles": runs.StepSucceeded, "unblock-sender": runs.StepSucceeded,
			}
			if got := stepStatuses(run); !equalStatuses(got, want) || run.Status != runs.Succeeded {
				t.Fatalf("run %s, steps %v; want succeeded, %v\n%s", run.Status, got, want, dump(run))
			}
			for _, name := range []string{"remove-forwarding", "remove-inbox-rules"} {
				if st := run.Step(name); !strings.Contains(st.Message, "no Exchange Online mailbox") || st.Error != nil || len(st.Changes) != 0 {
					t.Errorf("%s: %+v", name, st)
				}
			}
			// The restriction is the organisation's, keyed by address: it is lifted all the same.
			if left := e.sim.BlockedSenders(); len(left) != 0 {
				t.Errorf("still restricted: %+v", left)
			}
			total, by := exchangeCalls(e.sim)
			for _, w := range writes(e.sim) {
				if w == "Set-Mailbox" || strings.HasSuffix(w, "-InboxRule") {
					t.Errorf("a mailbox change was sent for a user without a mailbox: %v", writes(e.sim))
				}
			}
			if by["Remove-BlockedSenderAddress"] != 1 {
				t.Errorf("Exchange calls %v", by)
			}
			t.Logf("Exchange requests of a full remediation of a mailbox-less user (not found as %d): %d %v", notFound, total, by)
		})
	}
}

func TestRemoveBlockedSenderAddressCarriesNoReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-3 free text that must not reach Exchange"})
	if st := run.Step("unblock-sender"); st.Status != runs.StepSucceeded {
		t.Fatalf("unblock-sender %+v\n%s", st, dump(run))
	}
	removals := 0
	for _, r := range e.sim.Requests() {
		if r.Cmdlet != "Remove-BlockedSenderAddress" {
			continue
		}
		removals++
		var body struct {
			CmdletInput struct {
				Parameters map[string]any `json:"Parameters"`
			} `json:"CmdletInput"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if p := body.CmdletInput.Parameters; len(p) != 1 || !strings.EqualFold(p["SenderAddress"].(string), e.demo.UPN) {
			t.Errorf("Remove-BlockedSenderAddress parameters %v, want SenderAddress only", p)
		}
	}
	if removals != 1 {
		t.Errorf("%d Remove-BlockedSenderAddress requests", removals)
	}
}

func TestInboxRulesGoneBeforeTheirActionAreNotFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		notFound int
		vanish   func(d tenantsim.Demo) []string // rules deleted just before the first Disable-InboxRule
		want     runs.StepStatus
	}{
		{"one rule gone, answered 404", http.StatusNotFound, func(d tenantsim.Demo) []string { return d.SuspiciousRules[2:3] }, runs.StepSucceeded},
		{"one rule gone, answered 400", http.StatusBadRequest, func(d tenantsim.Demo) []string { return d.SuspiciousRules[2:3] }, runs.StepSucceeded},
		{"every suspicious rule gone", http.StatusBadRequest, func(d tenantsim.Demo) []string { return d.SuspiciousRules }, runs.StepNoChange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, remediation.Config{})
			e.sim.SetNotFoundStatus(tt.notFound)
			gone := tt.vanish(e.demo)
			e.sim.OnNextCmdlet("Disable-InboxRule", func() {
				for _, id := range gone {
					if !e.sim.DeleteInboxRule(e.demo.UPN, id) {
						t.Errorf("rule %s was not there to delete", id)
					}
				}
			})
			run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-inbox-rules"}})
			st := run.Step("remove-inbox-rules")
			if st.Status != tt.want || run.Status != runs.Succeeded || st.Error != nil {
				t.Fatalf("run %s step %+v\n%s", run.Status, st, dump(run))
			}
			if len(st.Changes) != len(e.demo.SuspiciousRules)-len(gone) || !strings.Contains(st.Message, "already gone") {
				t.Errorf("changes %d, message %q", len(st.Changes), st.Message)
			}
			for _, c := range st.Changes {
				for _, id := range gone {
					if strings.HasPrefix(c.Target, id+" ") {
						t.Errorf("a rule that was gone is recorded as disabled: %s", c.Target)
					}
				}
			}
			for _, r := range e.sim.InboxRules(e.demo.UPN) {
				for _, id := range e.demo.SuspiciousRules {
					if r.Identity == id && r.Enabled {
						t.Errorf("suspicious rule %q still enabled", r.Name)
					}
				}
			}
		})
	}
}

func TestMailboxOfAnotherObjectIsNotChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	// Exchange resolves the UPN to a mailbox linked to another directory object (a recycled
	// address, a stale sync): neither step may touch it.
	e.sim.SetMailboxOwner(e.demo.UPN, e.demo.ManagerID)
	before := e.sim.Mailbox(e.demo.UPN)
	e.sim.ResetRequests()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-forwarding", "remove-inbox-rules"}})
	if run.Status != runs.Failed {
		t.Fatalf("run %s\n%s", run.Status, dump(run))
	}
	for _, name := range []string{"remove-forwarding", "remove-inbox-rules"} {
		st := run.Step(name)
		if st.Status != runs.StepFailed || st.Error == nil || st.Error.Code != "mailbox_mismatch" || st.Attempts != 1 ||
			!strings.Contains(st.Error.Message, e.demo.ManagerID) || !strings.Contains(st.Error.Message, "nothing was changed") {
			t.Errorf("%s: %+v (error %+v)", name, st, st.Error)
		}
	}
	if w := writes(e.sim); len(w) != 0 {
		t.Errorf("changes sent to another object's mailbox: %v", w)
	}
	if after := e.sim.Mailbox(e.demo.UPN); after != before {
		t.Errorf("mailbox changed: %+v", after)
	}
	for _, r := range e.sim.InboxRules(e.demo.UPN) {
		if !r.Enabled {
			t.Errorf("rule %q was disabled", r.Name)
		}
	}
}

func TestBlockLiftedBeforeTheRemovalIsNotClaimed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.SetNotFoundStatus(http.StatusBadRequest)
	e.sim.OnNextCmdlet("Remove-BlockedSenderAddress", func() {
		if !e.sim.LiftBlock(e.demo.UPN) {
			t.Error("the demo user was not restricted")
		}
	})
	// A full run, so the step acts whatever rule one-step unblocking follows.
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync"})
	st := run.Step("unblock-sender")
	if run.Status != runs.Succeeded || st.Status != runs.StepNoChange || len(st.Changes) != 0 || !strings.Contains(st.Message, "already lifted") {
		t.Fatalf("run %s step %+v\n%s", run.Status, st, dump(run))
	}
}
