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
	seedDemoAuth(s, &d)
	seedDemoDevices(s, &d)
	seedAttackStory(s, d)
	return d
}

// Service principals of the demo's app consents.
const (
	demoGraphSP      = "5c0b4a76-3b1e-4d5e-9f52-0d1f1c0e2a11" // Microsoft Graph in this tenant
	demoIllicitApp   = "c0ffee00-0000-4000-8000-00000000c0de" // "Mail Sync Pro", the attacker's (the audit log's consent target)
	demoExpensesApp  = "2f6a9c1d-4e8b-4a7f-b3d2-9e1c0a5b7d64" // "Contoso Expenses", admin-consented
	demoCalendarTool = "9a4c2e7b-1d3f-4b6a-8e5c-0f2d4b6a8c1e" // Alex Wilber's own consent
)

// seedDemoAuth gives Adele her own MFA methods (a mobile phone, the default; Authenticator
// on her iPhone; a FIDO2 key), all registered months ago, and the attacker's Authenticator
// registered 2 h 45 min ago from the attacker's address (when the demo's directory audit
// log says "User registered security info"); one consent of her own to the attacker's mail
// app, next to an administrator's tenant-wide consent and Alex's own consent, which are not
// hers.
func seedDemoAuth(s *Sim, d *Demo) {
	now := time.Now().UTC().Truncate(time.Second)
	// Graph shows the phone no createdDateTime; her registration is older than the audit log keeps.
	phone := s.AddAuthMethod(d.UserID, AuthMethod{Type: "phone", Created: now.AddDate(-1, 0, 0), Props: map[string]any{"phoneNumber": "+1 4255550123", "phoneType": "mobile"}})
	d.UserMethodIDs = []string{
		phone,
		// Her Authenticator is registered for phone sign-in: Graph shows its createdDateTime.
		s.AddAuthMethod(d.UserID, AuthMethod{Type: "microsoftAuthenticator", Created: now.AddDate(0, -8, 0), PhoneSignIn: true,
			Props: map[string]any{"displayName": "iPhone 15", "deviceTag": "SoftwareTokenActivated", "phoneAppVersion": "6.8.17"}}),
		s.AddAuthMethod(d.UserID, AuthMethod{Type: "fido2", Created: now.AddDate(0, -5, 0),
			Props: map[string]any{"displayName": "YubiKey 5 NFC", "model": "YubiKey 5 NFC", "aaGuid": "2fc0579f-8113-47ea-b116-bb5a8db9202a", "attestationLevel": "attested", "attestationCertificates": []string{}}}),
	}
	s.SetDefaultMethod(d.UserID, phone)
	// The attacker's Authenticator is registered for push and codes: Graph shows createdDateTime
	// null; its registration is in the directory audit log, from the attacker's address.
	d.AttackerMethodID = s.AddAuthMethod(d.UserID, AuthMethod{Type: "microsoftAuthenticator", Created: now.Add(-2*time.Hour - 45*time.Minute), RegisteredFrom: AttackerIP,
		Props: map[string]any{"displayName": "SM-A515F", "deviceTag": "SoftwareTokenActivated", "phoneAppVersion": "6.2403.1657"}})
	d.AttackerSince = now.Add(-3 * time.Hour).Format(time.RFC3339) // the attacker's first sign-in

	s.NameServicePrincipal(demoGraphSP, "00000003-0000-0000-c000-000000000000", "Microsoft Graph")
	s.NameServicePrincipal(demoIllicitApp, "e3b0c442-98fc-4c14-9afb-f4c8996fb924", "Mail Sync Pro")
	s.NameServicePrincipal(demoExpensesApp, "4a1d6e2f-5b7c-4d8e-9f0a-1b2c3d4e5f60", "Contoso Expenses")
	s.NameServicePrincipal(demoCalendarTool, "8b9c0d1e-2f3a-4b5c-8d6e-7f8091a2b3c4", "Calendar Helper")
	d.IllicitAppID, d.GraphResourceID = demoIllicitApp, demoGraphSP
	d.IllicitGrantID = s.AddPermissionGrant(PermissionGrant{ClientID: demoIllicitApp, ResourceID: demoGraphSP, ConsentType: "Principal",
		PrincipalID: d.UserID, Scope: "Mail.ReadWrite Mail.Send Files.ReadWrite.All offline_access User.Read"})
	d.AdminGrantID = s.AddPermissionGrant(PermissionGrant{ClientID: demoExpensesApp, ResourceID: demoGraphSP, ConsentType: "AllPrincipals", Scope: "User.Read"})
	d.OtherUserGrantID = s.AddPermissionGrant(PermissionGrant{ClientID: demoCalendarTool, ResourceID: demoGraphSP, ConsentType: "Principal",
		PrincipalID: d.ManagerID, Scope: "Calendars.Read User.Read"})
}

// seedDemoDevices gives Adele her own devices, registered long ago (her Entra-joined
// laptop, her iPhone), and the Windows PC the attacker registered to her account 2 h 30 min
// ago, after the first sign-in: the one block-sign-in's disableDevices option disables.
func seedDemoDevices(s *Sim, d *Demo) {
	now := time.Now().UTC().Truncate(time.Second)
	mine := []string{d.UserID}
	d.UserDeviceIDs = []string{
		s.AddDevice(Device{DisplayName: "ADELE-LAPTOP", OperatingSystem: "Windows", OSVersion: "10.0.22631.4460", TrustType: "AzureAd",
			AccountEnabled: true, Registered: now.AddDate(-1, -2, 0), LastSignIn: now.Add(-26 * time.Hour), RegisteredUsers: mine, Owners: mine}),
		s.AddDevice(Device{DisplayName: "Adele's iPhone", OperatingSystem: "iOS", OSVersion: "17.5.1", TrustType: "Workplace",
			AccountEnabled: true, Registered: now.AddDate(0, -8, 0), LastSignIn: now.Add(-5 * time.Hour), RegisteredUsers: mine, Owners: mine}),
	}
	d.AttackerDeviceID = s.AddDevice(Device{DisplayName: "DESKTOP-7QK2M1A", OperatingSystem: "Windows", OSVersion: "10.0.19045.3930", TrustType: "Workplace",
		AccountEnabled: true, Registered: now.Add(-2*time.Hour - 30*time.Minute), LastSignIn: now.Add(-40 * time.Minute), RegisteredUsers: mine, Owners: mine})
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

	// The managed identity's own directory roles, as infra/assign-directory-roles.sh assigns
	// them: the preflight reads them.
	s.AssignRole(IdentityObjectID, RolePrivilegedAuthenticationAdministrator, "/")
	s.AssignRole(IdentityObjectID, RoleExchangeAdministrator, "/")
}
