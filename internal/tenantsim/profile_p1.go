package tenantsim

import "time"

// Fixed object ids of the p1 tenant.
const (
	p1UserID      = "a1a1a1a1-0000-4000-8000-0000000000a1"
	p1GlobalAdmin = "a1a1a1a1-0000-4000-8000-0000000000a2"
	p1BreakGlass  = "a1a1a1a1-0000-4000-8000-0000000000a3"
	p1Colleague   = "a1a1a1a1-0000-4000-8000-0000000000a4"
	p1UserAdmins  = "a1a1a1a1-0000-4000-8000-0000000000b1"
)

// SeedP1 builds a tenant licensed for Entra ID P1 only (no P2, no ID Governance): every
// PIM schedule call answers 400 AadPremiumLicenseRequired, so roles are held only as
// plain active assignments and through role-assignable groups. Diego Siciliani is the
// compromised user: Exchange Administrator and Helpdesk Administrator directly, User
// Administrator through the role-assignable group "Fabrikam User Admins", external
// forwarding and a forwarding inbox rule, and restricted from sending.
func SeedP1(s *Sim) Demo {
	const domain = "fabrikam.example"
	s.AddAcceptedDomain(domain)
	s.SetPIMLicensed(false)

	d := Demo{
		UserID: p1UserID, UPN: "diego.siciliani@" + domain,
		GlobalAdminID: p1GlobalAdmin, GlobalAdminUPN: "isaiah.langer@" + domain,
		BreakGlassID: p1BreakGlass, BreakGlassUPN: "breakglass@" + domain,
		ManagerID: p1Colleague, ManagerUPN: "nestor.wilke@" + domain,
		HelpdeskGroupID: p1UserAdmins,
	}
	for _, u := range []User{
		{ID: d.UserID, UserPrincipalName: d.UPN, DisplayName: "Diego Siciliani", Mail: d.UPN, AccountEnabled: true},
		{ID: d.GlobalAdminID, UserPrincipalName: d.GlobalAdminUPN, DisplayName: "Isaiah Langer", Mail: d.GlobalAdminUPN, AccountEnabled: true},
		{ID: d.BreakGlassID, UserPrincipalName: d.BreakGlassUPN, DisplayName: "Break Glass", AccountEnabled: true},
		{ID: d.ManagerID, UserPrincipalName: d.ManagerUPN, DisplayName: "Nestor Wilke", Mail: d.ManagerUPN, AccountEnabled: true},
	} {
		s.AddUser(u)
	}

	s.SetForwarding(d.UPN, "collect@exfil.example", "", true)
	d.SuspiciousRules = append(d.SuspiciousRules, s.AddInboxRule(d.UPN, InboxRule{
		Name: "..", Enabled: true, ForwardTo: []string{Recipient("collect", "collect@exfil.example")},
	}))
	d.BenignRules = append(d.BenignRules, s.AddInboxRule(d.UPN, InboxRule{
		Name: "Invoices", Enabled: true, SubjectContainsWords: []string{"Invoice"}, MoveToFolder: `diego.siciliani:\Invoices`,
	}))

	d.DirectAssignmentIDs = []string{
		s.AssignRole(d.UserID, RoleExchangeAdministrator, "/"),
		s.AssignRole(d.UserID, RoleHelpdeskAdministrator, "/"),
	}
	s.AddGroup(Group{ID: d.HelpdeskGroupID, DisplayName: "Fabrikam User Admins", IsAssignableToRole: true})
	s.AssignRole(d.HelpdeskGroupID, RoleUserAdministrator, "/")
	s.AddGroupMember(d.HelpdeskGroupID, d.UserID)
	s.AddGroupMember(d.HelpdeskGroupID, d.ManagerID)

	s.AssignRole(d.GlobalAdminID, RoleGlobalAdministrator, "/")
	s.AssignRole(d.BreakGlassID, RoleGlobalAdministrator, "/")
	s.BlockSender(d.UPN, time.Now().UTC().Add(-20*time.Minute).Truncate(time.Second))

	// Diego's default MFA method is his own Authenticator (not a phone); the attacker added
	// a mobile phone, which Graph shows without a registration time.
	d.UserMethodIDs = []string{s.AddAuthMethod(d.UserID, AuthMethod{Type: "microsoftAuthenticator", Created: time.Now().UTC().AddDate(-1, 0, 0).Truncate(time.Second),
		Props: map[string]any{"displayName": "Pixel 8", "deviceTag": "SoftwareTokenActivated", "phoneAppVersion": "6.2409.6321"}})}
	s.SetDefaultMethod(d.UserID, d.UserMethodIDs[0])
	d.AttackerMethodID = s.AddAuthMethod(d.UserID, AuthMethod{Type: "phone", Props: map[string]any{"phoneNumber": "+44 7700900123", "phoneType": "mobile"}})
	return d
}
