package tenantsim

import (
	"slices"
	"testing"
)

func TestSeedDemoExchangeAccess(t *testing.T) {
	t.Parallel()
	sim := New(Options{})
	d := SeedDemo(sim)
	for name, v := range sim.MailProtocols(d.UPN) {
		// EwsEnabled and SmtpClientAuthenticationDisabled null (the organisation's setting), the rest true.
		nullable := name == "EwsEnabled" || name == "SmtpClientAuthenticationDisabled"
		if !nullable && (v == nil || !*v) || nullable && v != nil {
			t.Errorf("%s = %v", name, v)
		}
	}
	for _, g := range d.ExchangeRoleGroups {
		if !slices.Contains(sim.RoleGroupMembers(g), d.UserID) {
			t.Errorf("demo user not in %s", g)
		}
	}
	var self, inherited, lee int
	for _, p := range sim.MailboxPermissions(d.UPN) {
		switch {
		case p.User == `NT AUTHORITY\SELF` && !p.IsInherited:
			self++
		case p.IsInherited:
			inherited++
		case p.User == d.AssistantUPN:
			lee++
		}
	}
	if self != 1 || inherited < 4 || lee != 1 {
		t.Errorf("FullAccess entries: SELF %d, inherited %d, planted %d", self, inherited, lee)
	}
	if got := sim.RecipientPermissions(d.UPN); len(got) != 2 || got[1].Trustee != d.AssistantUPN {
		t.Errorf("SendAs = %+v", got)
	}
	if got := sim.SendOnBehalf(d.UPN); !slices.Equal(got, []string{d.ManagerID}) {
		t.Errorf("SendOnBehalf = %v", got)
	}
	// Another user's mailbox has only what every mailbox has.
	if got := sim.RecipientPermissions(d.ManagerUPN); len(got) != 1 || got[0].Trustee != `NT AUTHORITY\SELF` {
		t.Errorf("manager SendAs = %+v", got)
	}
}
