package tenantsim

import "fmt"

// Fixed object ids of the large-mailbox tenant.
const (
	largeMailboxUserID = "a5a5a5a5-0000-4000-8000-000000000500"
	largeMailboxAdmin  = "a5a5a5a5-0000-4000-8000-000000000001"
)

// Sizes of the large-mailbox profile.
const (
	LargeMailboxRules      = 500
	LargeMailboxSuspicious = 150
)

// SeedLargeMailbox seeds a compromised user whose mailbox holds 500 inbox rules: names in
// German, Chinese, French and emoji, descriptions of 2 to 6 KB (long word lists), 150 of
// them suspicious (external forwarding and redirects, deleting, hiding mail in RSS Feeds, some
// of those hidden rules), the rest ordinary filing rules, plus Exchange's two hidden system
// rules. The evidence remove-inbox-rules records for it runs to megabytes.
func SeedLargeMailbox(s *Sim) Demo {
	const domain = "fabrikam.example"
	s.AddAcceptedDomain(domain)
	d := Demo{
		UserID: largeMailboxUserID, UPN: "jonas.mueller@" + domain,
		GlobalAdminID: largeMailboxAdmin, GlobalAdminUPN: "admin@" + domain,
	}
	s.AddUser(User{ID: d.UserID, UserPrincipalName: d.UPN, DisplayName: "Jonas Müller", Mail: d.UPN, AccountEnabled: true})
	s.AddUser(User{ID: d.GlobalAdminID, UserPrincipalName: d.GlobalAdminUPN, DisplayName: "Fabrikam Admin", Mail: d.GlobalAdminUPN, AccountEnabled: true})
	s.AssignRole(d.GlobalAdminID, RoleGlobalAdministrator, "/")

	folder := func(name string) string { return `jonas.mueller:\` + name }
	names := []string{"Überweisung", "付款", "📦 Lieferungen", "Réunion d'équipe", "Kundenanfragen", "会议纪要", "🚀 Projekte", "Größenänderung"}
	for i := 0; i < LargeMailboxRules; i++ {
		r := InboxRule{Name: fmt.Sprintf("%s %03d", names[i%len(names)], i), Enabled: true}
		// 60 to 250 words: descriptions from about 2 to 6 KB, the last rules the longest.
		r.SubjectOrBodyContainsWords = largeMailboxWords(i, 60+i*190/LargeMailboxRules)
		// Every tenth rule out of three is suspicious: 150 of 500, spread through the list.
		if i%10 == 0 || i%10 == 3 || i%10 == 6 {
			switch (i / 10) % 5 {
			case 0:
				r.ForwardTo = []string{Recipient("Archiv", fmt.Sprintf("archiv-%03d@mail-sync.example", i))}
			case 1:
				r.RedirectTo = []string{Recipient("Buchhaltung", fmt.Sprintf("buchhaltung%03d@fin-secure.example", i))}
			case 2:
				r.DeleteMessage, r.StopProcessingRules = true, true
			case 3:
				r.MoveToFolder, r.MarkAsRead = folder("RSS Feeds"), true
			case 4:
				r.MoveToFolder, r.Hidden = folder("Archive"), true
			}
			d.SuspiciousRules = append(d.SuspiciousRules, s.AddInboxRule(d.UPN, r))
			continue
		}
		switch i % 3 {
		case 0:
			r.MoveToFolder = folder(fmt.Sprintf(`Projekte\Kunde %03d`, i))
		case 1:
			r.MarkImportance = "High"
		default:
			r.FlaggedForAction = "FollowUp"
		}
		d.BenignRules = append(d.BenignRules, s.AddInboxRule(d.UPN, r))
	}
	for _, r := range []InboxRule{
		{Name: "Junk E-Mail Rule", MoveToFolder: folder("Junk Email")},
		{Name: "Microsoft.Exchange.OOF.KnownSenders", StopProcessingRules: true},
	} {
		r.Enabled, r.Hidden = true, true
		d.SystemRules = append(d.SystemRules, s.AddInboxRule(d.UPN, r))
	}
	return d
}

// largeMailboxWords makes n distinct words in several scripts, none of them a payment-fraud
// or cover-up keyword, so a rule is suspicious only for what it does.
func largeMailboxWords(rule, n int) []string {
	stems := []string{"Lieferschein", "Größe", "季度报告", "Réunion", "Ölpreis", "客户反馈", "Straße", "📈 Umsatz", "Kündigung", "日程安排", "naïve", "Übersicht"}
	words := make([]string, n)
	for k := range words {
		words[k] = fmt.Sprintf("%s-%03d-%03d", stems[(rule+k)%len(stems)], rule, k)
	}
	return words
}
