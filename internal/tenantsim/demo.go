package tenantsim

import "time"

// Fixed object ids of the demo tenant, so demo output and tests are reproducible.
const (
	demoUserID       = "11111111-1111-4111-8111-111111111111"
	demoGlobalAdmin  = "22222222-2222-4222-8222-222222222222"
	demoSyncedUser   = "33333333-3333-4333-8333-333333333333"
	demoBreakGlass   = "44444444-4444-4444-8444-444444444444"
	demoManager      = "77777777-7777-4777-8777-777777777777"
	demoAssistant    = "88888888-8888-4888-8888-888888888888"
	demoHelpdeskGrp  = "55555555-5555-4555-8555-555555555555"
	demoAllStaffGrp  = "99999999-9999-4999-8999-999999999999"
	demoCustomRoleID = "66666666-6666-4666-8666-666666666666"
)

// SeedDemo builds the compromised-account scenario `make demo` and the tests use: Adele
// Vance with external mailbox forwarding, four suspicious and six benign inbox rules plus
// two hidden system rules, four kinds of admin role, and a restricted-sender entry; Megan
// Bowen and a break-glass account as Global Administrators; a user synced from AD.
func SeedDemo(s *Sim) Demo {
	const domain = "contoso.example"
	s.AddAcceptedDomain(domain)
	s.AddAcceptedDomain("contoso.mail.onmicrosoft.example")

	d := Demo{
		UserID: demoUserID, UPN: "adele.vance@" + domain,
		ManagerID: demoManager, ManagerUPN: "alex.wilber@" + domain,
		AssistantID: demoAssistant, AssistantUPN: "lee.gu@" + domain,
		GlobalAdminID: demoGlobalAdmin, GlobalAdminUPN: "megan.bowen@" + domain,
		SyncedUserID: demoSyncedUser, SyncedUPN: "hybrid.user@" + domain,
		BreakGlassID: demoBreakGlass, BreakGlassUPN: "breakglass@" + domain,
		HelpdeskGroupID: demoHelpdeskGrp, AllStaffGroupID: demoAllStaffGrp, CustomRoleID: demoCustomRoleID,
	}
	for _, u := range []User{
		{ID: d.UserID, UserPrincipalName: d.UPN, DisplayName: "Adele Vance", Mail: d.UPN, AccountEnabled: true},
		{ID: d.ManagerID, UserPrincipalName: d.ManagerUPN, DisplayName: "Alex Wilber", Mail: d.ManagerUPN, AccountEnabled: true},
		{ID: d.AssistantID, UserPrincipalName: d.AssistantUPN, DisplayName: "Lee Gu", Mail: d.AssistantUPN, AccountEnabled: true},
		{ID: d.GlobalAdminID, UserPrincipalName: d.GlobalAdminUPN, DisplayName: "Megan Bowen", Mail: d.GlobalAdminUPN, AccountEnabled: true},
		{ID: d.SyncedUserID, UserPrincipalName: d.SyncedUPN, DisplayName: "Hybrid User", Mail: d.SyncedUPN, AccountEnabled: true, OnPremisesSyncEnabled: true},
		{ID: d.BreakGlassID, UserPrincipalName: d.BreakGlassUPN, DisplayName: "Break Glass", AccountEnabled: true},
	} {
		s.AddUser(u)
	}

	s.SetForwarding(d.UPN, "exfil@evil.example", "", true)
	seedDemoRules(s, &d)
	seedDemoRoles(s, &d)
	seedDemoExchangeAccess(s, &d)
	s.BlockSender(d.UPN, time.Now().UTC().Add(-30*time.Minute).Truncate(time.Second))
	seedAttackStory(s, d)
	return d
}

func seedDemoRules(s *Sim, d *Demo) {
	folder := func(name string) string { return `adele.vance:\` + name }
	benign := func(r InboxRule) { r.Enabled = true; d.BenignRules = append(d.BenignRules, s.AddInboxRule(d.UPN, r)) }
	suspicious := func(r InboxRule) {
		r.Enabled = true
		d.SuspiciousRules = append(d.SuspiciousRules, s.AddInboxRule(d.UPN, r))
	}
	system := func(r InboxRule) {
		r.Enabled, r.Hidden = true, true
		d.SystemRules = append(d.SystemRules, s.AddInboxRule(d.UPN, r))
	}

	benign(InboxRule{Name: "Newsletters", FromAddressContainsWords: []string{"newsletter", "digest"}, MoveToFolder: folder("Newsletters")})
	benign(InboxRule{Name: "From my manager", From: []string{Recipient("Alex Wilber", d.ManagerUPN)}, MarkImportance: "High", FlaggedForAction: "FollowUp"})
	benign(InboxRule{Name: "Team updates", SubjectContainsWords: []string{"[Team]"}, MoveToFolder: folder("Team")})
	suspicious(InboxRule{
		Name: "Clean up", Hidden: true, DeleteMessage: true, StopProcessingRules: true,
		SubjectOrBodyContainsWords: []string{"invoice", "payment", "wire transfer"},
	})
	suspicious(InboxRule{
		Name: ".", MoveToFolder: folder("RSS Feeds"), MarkAsRead: true, StopProcessingRules: true,
		SubjectOrBodyContainsWords: []string{"password", "hacked", "phish", "suspicious sign-in"},
	})
	benign(InboxRule{Name: "Travel bookings", FromAddressContainsWords: []string{"@contoso-travel.example"}, MoveToFolder: folder("Travel")})
	benign(InboxRule{Name: "Calendar to assistant", SubjectContainsWords: []string{"Meeting request"}, ForwardTo: []string{Recipient("Lee Gu", d.AssistantUPN)}})
	suspicious(InboxRule{Name: "Sync", ForwardTo: []string{Recipient("exfil", "exfil@evil.example")}})
	suspicious(InboxRule{Name: "Accounts", RedirectTo: []string{Recipient("Accounts Payable", "ap-desk@fin-secure.example")}, FromAddressContainsWords: []string{"@fabrikam.example"}})
	benign(InboxRule{Name: "Project Falcon", SubjectContainsWords: []string{"Falcon"}, MoveToFolder: folder(`Projects\Falcon`)})
	system(InboxRule{Name: "Junk E-Mail Rule", MoveToFolder: folder("Junk Email")})
	system(InboxRule{Name: "Microsoft.Exchange.OOF.KnownSenders", StopProcessingRules: true})
}

func seedDemoRoles(s *Sim, d *Demo) {
	s.AddRoleDefinition(RoleDefinition{
		ID: d.CustomRoleID, DisplayName: "Contoso Mail Auditor",
		Description: "Custom role: reads mailbox audit settings.", IsBuiltIn: false,
	})
	d.DirectAssignmentIDs = []string{
		s.AssignRole(d.UserID, RoleExchangeAdministrator, "/"),
		s.AssignRole(d.UserID, d.CustomRoleID, "/"),
	}
	d.EligibleScheduleID = s.AddEligibleRole(d.UserID, RoleSecurityAdministrator, "/")

	s.AddGroup(Group{ID: d.HelpdeskGroupID, DisplayName: "Tier1 Helpdesk Admins", IsAssignableToRole: true})
	s.AssignRole(d.HelpdeskGroupID, RoleUserAdministrator, "/")
	s.AddGroupMember(d.HelpdeskGroupID, d.UserID)
	s.AddGroupMember(d.HelpdeskGroupID, d.ManagerID)

	// An ordinary group: memberOf lists it, but it carries no role.
	s.AddGroup(Group{ID: d.AllStaffGroupID, DisplayName: "All Contoso"})
	s.AddGroupMember(d.AllStaffGroupID, d.UserID)

	s.AssignRole(d.GlobalAdminID, RoleGlobalAdministrator, "/")
	s.AssignRole(d.BreakGlassID, RoleGlobalAdministrator, "/")
}
