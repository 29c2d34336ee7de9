package tenantsim

// SeedNoMailbox is the demo tenant whose compromised user has no Exchange Online mailbox:
// the admin took the Exchange licence away (a common first containment move), after
// Exchange had already put the user on the Restricted users list. The directory user, the
// admin roles and the restriction stay; Get-Mailbox and Get-InboxRule answer
// ManagementObjectNotFoundException in the real shape.
//
// The restriction is kept on purpose: the Restricted users list is the organisation's,
// keyed by sender address, not a property of the mailbox, and a block left behind would
// bite again the day the licence comes back.
func SeedNoMailbox(s *Sim) Demo {
	d := SeedDemo(s)
	s.RemoveMailbox(d.UPN)
	d.SuspiciousRules, d.BenignRules, d.SystemRules = nil, nil, nil
	return d
}
