package exchange_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/exchange"
)

// The containment calls against the simulator at a page size of 3, so every listing
// (ten role groups, nine permission entries and more) crosses pages by @odata.nextLink.
func TestContainmentCallsAgainstTheSimulator(t *testing.T) {
	sim, demo, c := newSimClient(t, 3)
	ctx := context.Background()

	cas, err := c.GetCASMailbox(ctx, demo.UPN)
	if err != nil {
		t.Fatal(err)
	}
	if cas.ExternalDirectoryObjectID != demo.UserID || !cas.Protocols["OWAEnabled"].On() || cas.Protocols["EwsEnabled"].Set || !cas.Protocols["EwsEnabled"].On() {
		t.Fatalf("CAS mailbox = %+v", cas)
	}
	if err := c.SetMailProtocols(ctx, demo.UPN, map[string]any{"OWAEnabled": false, "EwsEnabled": false}); err != nil {
		t.Fatal(err)
	}
	if p := sim.MailProtocols(demo.UPN); *p["OWAEnabled"] || p["EwsEnabled"] == nil || *p["EwsEnabled"] || !*p["PopEnabled"] {
		t.Fatalf("protocols after Set-CASMailbox = %v", p)
	}
	// SMTP AUTH: true is off; null (the organisation's setting) is taken back.
	if err := c.SetMailProtocols(ctx, demo.UPN, map[string]any{"SmtpClientAuthenticationDisabled": true, "OutlookMobileEnabled": false, "MacOutlookEnabled": false}); err != nil {
		t.Fatal(err)
	}
	cas, err = c.GetCASMailbox(ctx, demo.UPN)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SmtpClientAuthenticationDisabled", "OutlookMobileEnabled", "MacOutlookEnabled"} {
		if st := cas.Protocols[name]; st.On() || !st.Set {
			t.Errorf("%s = %+v, want off", name, st)
		}
	}
	if v := cas.Protocols["SmtpClientAuthenticationDisabled"].Value(); v != true {
		t.Errorf("SmtpClientAuthenticationDisabled shows %v, want true", v)
	}
	if err := c.SetMailProtocols(ctx, demo.UPN, map[string]any{"SmtpClientAuthenticationDisabled": nil}); err != nil || sim.MailProtocols(demo.UPN)["SmtpClientAuthenticationDisabled"] != nil {
		t.Fatalf("SmtpClientAuthenticationDisabled back to null: %v", err)
	}
	// EwsEnabled and the plain booleans take no null: refused before anything is sent.
	for _, name := range []string{"EwsEnabled", "OWAEnabled"} {
		if err := c.SetMailProtocols(ctx, demo.UPN, map[string]any{name: nil}); !errors.Is(err, exchange.ErrInvalidArgument) {
			t.Errorf("%s=null: %v", name, err)
		}
	}
	if oc, err := c.OrganizationConfig(ctx); err != nil || oc.EwsEnabled != nil {
		t.Fatalf("organisation config = %+v, %v", oc, err)
	}
	sim.SetOrganizationEwsEnabled(new(bool))
	if oc, err := c.OrganizationConfig(ctx); err != nil || oc.EwsEnabled == nil || *oc.EwsEnabled {
		t.Fatalf("organisation config = %+v, %v", oc, err)
	}

	groups, err := c.RoleGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != len(sim.RoleGroupNames()) || len(groups) < 10 {
		t.Fatalf("%d role groups over pages, want %d", len(groups), len(sim.RoleGroupNames()))
	}
	var org exchange.RoleGroup
	for _, g := range groups {
		if g.Name == "Organization Management" {
			org = g
		}
	}
	members, err := c.RoleGroupMembers(ctx, org.ID())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(members, func(m exchange.RoleGroupMember) bool { return m.ExternalDirectoryObjectID == demo.UserID })
	if i < 0 || members[i].Guid == demo.UserID || members[i].WindowsLiveID != demo.UPN || len(org.Members) != len(members) {
		t.Fatalf("members = %+v, group %+v", members, org)
	}
	if err := c.RemoveRoleGroupMember(ctx, org.ID(), members[i].Guid); err != nil {
		t.Fatal(err)
	}
	err = c.RemoveRoleGroupMember(ctx, org.ID(), members[i].Guid)
	if !exchange.IsNotFound(err) {
		t.Errorf("removing a member that is not there: %v, want a not-found error", err)
	}
	if err := c.AddRoleGroupMember(ctx, org.ID(), demo.UPN); err != nil {
		t.Fatal(err)
	}
	var xe *exchange.Error
	if err := c.AddRoleGroupMember(ctx, org.ID(), demo.UPN); !errors.As(err, &xe) || !strings.HasSuffix(xe.Type, "MemberAlreadyExistsException") {
		t.Errorf("adding a member twice: %v", err)
	}

	full, err := c.MailboxPermissions(ctx, demo.UPN)
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != len(sim.MailboxPermissions(demo.UPN)) || len(full) < 9 {
		t.Fatalf("%d permission entries over pages", len(full))
	}
	if err := c.RemoveFullAccess(ctx, demo.UPN, demo.AssistantUPN, "All"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveSendAs(ctx, demo.UPN, demo.AssistantUPN); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveSendAs(ctx, demo.UPN, "nobody@contoso.example"); !exchange.IsNotFound(err) {
		t.Errorf("SendAs of an unknown trustee: %v", err)
	}
	mb, err := c.GetMailbox(ctx, demo.UPN)
	if err != nil || len(mb.GrantSendOnBehalfTo) != 1 {
		t.Fatalf("GrantSendOnBehalfTo = %v, %v", mb.GrantSendOnBehalfTo, err)
	}
	if err := c.RemoveSendOnBehalf(ctx, demo.UPN, mb.GrantSendOnBehalfTo[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveSendOnBehalf(ctx, demo.UPN, "nobody"); !exchange.IsNotFound(err) {
		t.Errorf("SendOnBehalf of an unknown recipient: %v", err)
	}
	if left := sim.SendOnBehalf(demo.UPN); len(left) != 0 {
		t.Errorf("SendOnBehalf left %v", left)
	}
	for _, p := range sim.MailboxPermissions(demo.UPN) {
		if p.User == demo.AssistantUPN {
			t.Errorf("FullAccess left %+v", p)
		}
	}
	// Forwarding parameters and GrantSendOnBehalfTo share Set-Mailbox: one does not disturb the other.
	if sim.Mailbox(demo.UPN).ForwardingSmtpAddress == "" {
		t.Error("Set-Mailbox -GrantSendOnBehalfTo cleared the forwarding")
	}
	if err := c.AddSendOnBehalf(ctx, demo.UPN, mb.GrantSendOnBehalfTo[0]); err != nil || len(sim.SendOnBehalf(demo.UPN)) != 1 {
		t.Errorf("add back: %v %v", err, sim.SendOnBehalf(demo.UPN))
	}
	if err := c.AddFullAccess(ctx, demo.UPN, demo.AssistantUPN, "All"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddSendAs(ctx, demo.UPN, demo.AssistantUPN); err != nil {
		t.Fatal(err)
	}
}

// Get-RoleGroupMember is only sent a GUID: a Get- cmdlet given an Identity that does not
// resolve may answer every object, so a name is refused before anything is sent. A group
// whose members Exchange does not manage (TenantAdmins_*) is listed by Get-RoleGroup and
// refused by Get-RoleGroupMember with an error that is neither not-found nor transient.
func TestRoleGroupMembersTakesAGUIDOnly(t *testing.T) {
	sim, demo, c := newSimClient(t, 0)
	ctx := context.Background()
	sim.ResetRequests()
	if _, err := c.RoleGroupMembers(ctx, "Organization Management"); !errors.Is(err, exchange.ErrInvalidArgument) {
		t.Fatalf("by name: %v, want ErrInvalidArgument", err)
	}
	if n := len(sim.Requests()); n != 0 {
		t.Fatalf("%d requests sent for a refused identity", n)
	}
	linked := sim.AddEntraLinkedRoleGroup("TenantAdmins_-1873021234", demo.UserID)
	groups, err := c.RoleGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(groups, func(g exchange.RoleGroup) bool { return g.Guid == linked })
	if i < 0 {
		t.Fatalf("Get-RoleGroup does not list the Entra-linked group: %+v", groups)
	}
	if id, ok := groups[i].MemberIdentity(); !ok || id != linked {
		t.Fatalf("MemberIdentity = %q %v", id, ok)
	}
	if why, ok := groups[i].ServiceManaged(); !ok || !strings.Contains(why, "Global Administrator") {
		t.Errorf("ServiceManaged = %q %v", why, ok)
	}
	_, err = c.RoleGroupMembers(ctx, linked)
	if err == nil || exchange.IsNotFound(err) || exchange.IsTransient(err) {
		t.Fatalf("members of an Entra-linked group: %v, want a permanent refusal", err)
	}
	if err := c.RemoveRoleGroupMember(ctx, linked, demo.UPN); err == nil {
		t.Fatal("Remove-RoleGroupMember on an Entra-linked group succeeded")
	}
}
