package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// simExchangeRunner is simRunner with the real Exchange client as Mailboxes.
func simExchangeRunner(t *testing.T) (*Runner, *tenantsim.Sim, tenantsim.Demo) {
	t.Helper()
	r, sim, demo := simRunner(t)
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ID: azidentity.ClientID(fmt.Sprintf("00000000-0000-0000-0003-%012d", simSerial.Add(1)))})
	if err != nil {
		t.Fatal(err)
	}
	x, err := exchange.New(exchange.Options{BaseURL: sim.ExchangeURL(), TenantID: sim.TenantID(), Credential: cred, Timeout: 10 * time.Second, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.Mailboxes = x
	return r, sim, demo
}

// roleGroupMemberIdentities are the Identity values Get-RoleGroupMember was sent.
func roleGroupMemberIdentities(t *testing.T, sim *tenantsim.Sim) []string {
	t.Helper()
	var out []string
	for _, req := range sim.Requests() {
		if req.Cmdlet != "Get-RoleGroupMember" {
			continue
		}
		var body struct {
			CmdletInput struct {
				Parameters map[string]any
			}
		}
		if err := json.Unmarshal(req.Body, &body); err != nil {
			t.Fatal(err)
		}
		id, _ := body.CmdletInput.Parameters["Identity"].(string)
		out = append(out, id)
	}
	return out
}

// A role group whose members Exchange will not show (the Entra-linked TenantAdmins_* and
// Microsoft's RIM-MailboxAdmins*) does not fail the step: the user still leaves every group
// that can be read, the unreadable ones are named in the message and the evidence, and the
// step ends action_required because a person must check them. Get-RoleGroupMember is only
// ever sent a GUID that Get-RoleGroup listed.
func TestRemoveExchangeRoleGroupsGoesOnPastAGroupItCannotRead(t *testing.T) {
	ctx := context.Background()
	r, sim, demo := simExchangeRunner(t)
	sim.AddEntraLinkedRoleGroup("TenantAdmins_-1873021234", demo.UserID)
	sim.AddEntraLinkedRoleGroup("RIM-MailboxAdmins339fa76789b140aca40174b8db4ddb79", demo.UserID)
	rec := &recorder{sim: sim}
	in := Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Record: rec.record}

	out := r.Run(ctx, RemoveExchangeRoleGroups, in)
	if out.Status != runs.StepActionRequired || out.Error != nil {
		t.Fatalf("status %s, error %+v, message %q; want action_required", out.Status, out.Error, out.Message)
	}
	for _, g := range demo.ExchangeRoleGroups {
		for _, id := range sim.RoleGroupMembers(g) {
			if id == demo.UserID {
				t.Errorf("the user is still in %s", g)
			}
		}
	}
	removed, unreadable := map[string]bool{}, map[string]bool{}
	for _, c := range out.Changes {
		switch c.Action {
		case "role_group_member_removed":
			removed[c.Target] = true
		case "role_group_unreadable":
			unreadable[c.Target] = true
			if c.Restore != nil {
				t.Errorf("%s: an unreadable group carries a restore payload", c.Target)
			}
		}
	}
	if len(removed) != 2 || !removed["Organization Management"] || !removed["Recipient Management"] {
		t.Errorf("removed %v", removed)
	}
	for _, g := range []string{"TenantAdmins_-1873021234", "RIM-MailboxAdmins339fa76789b140aca40174b8db4ddb79"} {
		if !unreadable[g] || !strings.Contains(out.Message, g) {
			t.Errorf("%s is not named unreadable (changes %v, message %q)", g, unreadable, out.Message)
		}
	}
	evidenceNames := 0
	for _, c := range rec.evidence {
		if c.Action == "role_group_unreadable" {
			evidenceNames++
		}
	}
	if evidenceNames != 2 {
		t.Errorf("evidence holds %d unreadable groups, want 2: %+v", evidenceNames, rec.evidence)
	}
	for _, id := range roleGroupMemberIdentities(t, sim) {
		if !isGUID(id) {
			t.Errorf("Get-RoleGroupMember was sent Identity %q, not a GUID", id)
		}
	}

	// Again: nothing left to remove, the unreadable groups still need a person.
	again := r.Run(ctx, RemoveExchangeRoleGroups, in)
	if again.Status != runs.StepActionRequired || !strings.Contains(again.Message, "TenantAdmins_-1873021234") || len(again.Changes) != 2 {
		t.Fatalf("second run: %s %q %d changes", again.Status, again.Message, len(again.Changes))
	}
}

// SendOnBehalf lists recipients by Name, which Exchange Online often makes a GUID: the
// evidence resolves it to the delegate's address (Get-Recipient, sent only a GUID). A read
// right after the removal can still show the delegate (replication between Exchange's
// servers): the step reads again a few times, with a short bounded backoff, before it
// concludes not_removed, and concludes it when the delegate stays.
func TestRemoveMailboxDelegatesResolvesGUIDNamesAndWaitsOutReplication(t *testing.T) {
	ctx := context.Background()
	r, sim, demo := simExchangeRunner(t)
	r.DelegateRecheckWait = time.Millisecond
	sim.SetRecipientName(demo.ManagerID, demo.ManagerID) // GrantSendOnBehalfTo now shows a GUID
	sim.LagDelegateReads(2)
	rec := &recorder{sim: sim}
	in := Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Record: rec.record}

	out := r.Run(ctx, RemoveMailboxDelegates, in)
	if out.Status != runs.StepSucceeded || out.Error != nil {
		t.Fatalf("status %s, error %+v, message %q; want succeeded once replication caught up", out.Status, out.Error, out.Message)
	}
	if got := sim.SendOnBehalf(demo.UPN); len(got) != 0 {
		t.Fatalf("SendOnBehalf left: %v", got)
	}
	var sob *runs.Change
	for i, c := range out.Changes {
		if c.Action == "send_on_behalf_removed" {
			sob = &out.Changes[i]
		}
	}
	if sob == nil {
		t.Fatalf("no SendOnBehalf change: %+v", out.Changes)
	}
	before, _ := sob.Before.(map[string]any)
	rc, _ := before["recipient"].(map[string]any)
	if before["GrantSendOnBehalfTo"] != demo.ManagerID || rc == nil || !strings.EqualFold(fmt.Sprint(rc["primarySmtpAddress"]), demo.ManagerUPN) ||
		!strings.Contains(sob.Target, demo.ManagerUPN) || !strings.Contains(strings.Join(sob.Reasons, " "), demo.ManagerUPN) {
		t.Errorf("SendOnBehalf evidence does not name the delegate's address: target %q, before %v, reasons %v", sob.Target, sob.Before, sob.Reasons)
	}
	if g := sob.Restore.(ExchangeGrant); g.Trustee != demo.ManagerID {
		t.Errorf("restore trustee %q, want the name Exchange listed", g.Trustee)
	}
	reads, recipients := 0, 0
	for _, req := range sim.Requests() {
		switch req.Cmdlet {
		case "Get-Mailbox":
			reads++
		case "Get-Recipient":
			recipients++
			if !strings.Contains(string(req.Body), `"Identity":"`+demo.ManagerID+`"`) {
				t.Errorf("Get-Recipient sent %s", req.Body)
			}
		}
	}
	if recipients != 1 || reads != 4 { // the first read, then three after the removal
		t.Errorf("%d Get-Recipient and %d Get-Mailbox calls, want 1 and 4", recipients, reads)
	}

	// A delegate still listed after the bounded re-reads: not_removed, in bounded time.
	sim.GrantSendOnBehalf(demo.UPN, demo.ManagerID)
	sim.LagDelegateReads(10)
	began := time.Now()
	stuck := r.Run(ctx, RemoveMailboxDelegates, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}})
	if stuck.Status != runs.StepFailed || stuck.Error == nil || stuck.Error.Code != "not_removed" || time.Since(began) > 5*time.Second {
		t.Fatalf("lag beyond the re-reads: %s %+v after %s", stuck.Status, stuck.Error, time.Since(began))
	}
}
