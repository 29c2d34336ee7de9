package tenantsim

// seedDemoExchangeAccess gives the demo user what the Exchange containment steps take away:
// every client access protocol on (as a new mailbox has them; EwsEnabled null), membership
// of two Exchange admin role groups (Megan Bowen is in Organization Management too and
// stays), and delegates the attacker planted: FullAccess and SendAs for Lee Gu's account
// and SendOnBehalf for Alex Wilber's. NT AUTHORITY\SELF and the inherited entries every
// mailbox has are there as well, and are never delegates.
func seedDemoExchangeAccess(s *Sim, d *Demo) {
	d.ExchangeRoleGroups = []string{"Organization Management", "Recipient Management"}
	for _, g := range d.ExchangeRoleGroups {
		s.AddRoleGroupMember(g, d.UserID)
	}
	s.AddRoleGroupMember("Organization Management", d.GlobalAdminID)

	s.GrantFullAccess(d.UPN, d.AssistantID)
	s.GrantSendAs(d.UPN, d.AssistantID)
	s.GrantSendOnBehalf(d.UPN, d.ManagerID)
}
