package steps

import (
	"context"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// oneMailbox answers the mailbox reads with fixed results and records every change; the
// errors are Exchange's own shapes (not found as 400 with the exception type).
type oneMailbox struct {
	Mailboxes
	mailbox  exchange.Mailbox
	getErr   error
	rulesErr error
	clearErr error
	rules    []exchange.InboxRule
	changed  []string
}

func (m *oneMailbox) GetMailbox(context.Context, string) (exchange.Mailbox, error) {
	return m.mailbox, m.getErr
}
func (m *oneMailbox) ClearForwarding(context.Context, string) error {
	m.changed = append(m.changed, "Set-Mailbox")
	return m.clearErr
}
func (m *oneMailbox) InboxRules(context.Context, string) ([]exchange.InboxRule, error) {
	return m.rules, m.rulesErr
}
func (m *oneMailbox) DisableInboxRule(_ context.Context, _, id string) error {
	m.changed = append(m.changed, "Disable-InboxRule "+id)
	return nil
}
func (m *oneMailbox) AcceptedDomains(context.Context) ([]exchange.AcceptedDomain, error) {
	return []exchange.AcceptedDomain{{DomainName: "contoso.example"}}, nil
}

func notFound400(cmdlet string) error {
	return &exchange.Error{Cmdlet: cmdlet, Status: 400, Code: "BadRequest", ErrorID: "Ex6F9304",
		Type: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", Message: "The operation couldn't be performed because object 'x' couldn't be found on 'y'."}
}

func TestMailboxStepsWithoutAMailboxOrWithAnotherOwner(t *testing.T) {
	const userID = "11111111-1111-4111-8111-111111111111"
	target := Target{ID: userID, UPN: "adele@contoso.example"}
	forwarding := exchange.Mailbox{Identity: "adele", ExternalDirectoryObjectID: userID, ForwardingSmtpAddress: "smtp:x@evil.example"}
	rule := exchange.InboxRule{Identity: `adele@contoso.example\1`, Name: "fwd", Enabled: true, ForwardTo: []string{"x@evil.example"}}
	tests := []struct {
		name     string
		step     Name
		dryRun   bool
		mb       *oneMailbox
		want     runs.StepStatus
		wantCode string
		wantText string
		changes  int
	}{
		{name: "forwarding: no mailbox", step: RemoveForwarding, mb: &oneMailbox{getErr: notFound400("Get-Mailbox")}, want: runs.StepNoChange, wantText: "no Exchange Online mailbox"},
		{name: "forwarding: mailbox gone before Set-Mailbox", step: RemoveForwarding, mb: &oneMailbox{mailbox: forwarding, clearErr: notFound400("Set-Mailbox")}, want: runs.StepNoChange, wantText: "no Exchange Online mailbox", changes: 1},
		{name: "forwarding: another owner", step: RemoveForwarding, mb: &oneMailbox{mailbox: exchange.Mailbox{Identity: "adele", ExternalDirectoryObjectID: "99999999-9999-4999-8999-999999999999", ForwardingSmtpAddress: "smtp:x@evil.example"}}, want: runs.StepFailed, wantCode: "mailbox_mismatch"},
		{name: "forwarding: owner not shown", step: RemoveForwarding, mb: &oneMailbox{mailbox: exchange.Mailbox{Identity: "adele", ForwardingSmtpAddress: "smtp:x@evil.example"}}, want: runs.StepFailed, wantCode: "mailbox_mismatch", wantText: "no ExternalDirectoryObjectId"},
		{name: "forwarding: owner not shown, another UPN", step: RemoveForwarding, mb: &oneMailbox{mailbox: exchange.Mailbox{Identity: "megan", UserPrincipalName: "megan@contoso.example", ForwardingSmtpAddress: "smtp:x@evil.example"}}, want: runs.StepFailed, wantCode: "mailbox_mismatch", wantText: "no ExternalDirectoryObjectId"},
		{name: "forwarding: owner not shown, the user's own UPN", step: RemoveForwarding, mb: &oneMailbox{mailbox: exchange.Mailbox{Identity: "adele", UserPrincipalName: "Adele@contoso.example", ForwardingSmtpAddress: "smtp:x@evil.example"}}, want: runs.StepSucceeded, changes: 1},
		{name: "forwarding: another owner in a dry run", step: RemoveForwarding, dryRun: true, mb: &oneMailbox{mailbox: exchange.Mailbox{ExternalDirectoryObjectID: "someone-else"}}, want: runs.StepFailed, wantCode: "mailbox_mismatch"},
		{name: "rules: no mailbox", step: RemoveInboxRules, mb: &oneMailbox{getErr: notFound400("Get-Mailbox"), rulesErr: notFound400("Get-InboxRule")}, want: runs.StepNoChange, wantText: "no Exchange Online mailbox"},
		{name: "rules: listing says not found", step: RemoveInboxRules, mb: &oneMailbox{mailbox: forwarding, rulesErr: notFound400("Get-InboxRule")}, want: runs.StepNoChange, wantText: "no Exchange Online mailbox"},
		{name: "rules: another owner", step: RemoveInboxRules, mb: &oneMailbox{mailbox: exchange.Mailbox{ExternalDirectoryObjectID: "someone-else"}, rules: []exchange.InboxRule{rule}}, want: runs.StepFailed, wantCode: "mailbox_mismatch"},
		{name: "rules: own mailbox", step: RemoveInboxRules, mb: &oneMailbox{mailbox: forwarding, rules: []exchange.InboxRule{rule}}, want: runs.StepSucceeded, changes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := (&Runner{Directory: noDirectory{}, Mailboxes: tt.mb}).Run(context.Background(), tt.step, Input{Target: target, DryRun: tt.dryRun})
			if out.Status != tt.want || len(tt.mb.changed) != tt.changes || out.Transient {
				t.Fatalf("status %s transient %v, changes sent %v; want %s and %d", out.Status, out.Transient, tt.mb.changed, tt.want, tt.changes)
			}
			text := out.Message
			if out.Error != nil {
				text = out.Error.Message
				if out.Error.Code != tt.wantCode {
					t.Errorf("error code %q, want %q", out.Error.Code, tt.wantCode)
				}
			}
			if !strings.Contains(text, tt.wantText) {
				t.Errorf("text %q lacks %q", text, tt.wantText)
			}
		})
	}
}
