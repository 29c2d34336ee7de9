// Package bench holds what the benchmarks (cmd/bench) and the resilience tests share: a
// population of compromised users in the tenant simulator, and checks over the simulator's
// request log that no change was applied twice.
package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// Domain is the accepted domain of the seeded users.
const Domain = "contoso.example"

// Victim is one seeded compromised user and what a full remediation should change.
type Victim struct {
	ID, UPN         string
	SuspiciousRules []string // rule identities
	RoleGrants      int      // direct + eligible + group membership
}

// SeedVictims adds n compromised users shaped like tenantsim.SeedDemo's Adele Vance:
// external mailbox forwarding, 10 inbox rules of which 4 are suspicious (1 hidden), a
// direct role, a PIM eligible role and membership in a role-assignable group that holds a
// role, and a Restricted users entry. Two Global Administrators exist, so no victim is the
// last one. Object ids are derived from i, so runs are reproducible.
func SeedVictims(s *tenantsim.Sim, n int) []Victim {
	s.AddAcceptedDomain(Domain)
	for i, id := range []string{"aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"} {
		s.AddUser(tenantsim.User{ID: id, UserPrincipalName: fmt.Sprintf("ga%d@%s", i, Domain), AccountEnabled: true})
		s.AssignRole(id, tenantsim.RoleGlobalAdministrator, "/")
	}
	const groupID = "bbbbbbbb-0000-4000-8000-000000000001"
	s.AddGroup(tenantsim.Group{ID: groupID, DisplayName: "Tier1 Helpdesk Admins", IsAssignableToRole: true})
	s.AssignRole(groupID, tenantsim.RoleUserAdministrator, "/")

	blockedAt := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Second)
	victims := make([]Victim, n)
	for i := range victims {
		v := Victim{ID: fmt.Sprintf("cccccccc-%04x-4000-8000-%012x", i>>16&0xffff, i), UPN: fmt.Sprintf("victim%04d@%s", i, Domain)}
		s.AddUser(tenantsim.User{ID: v.ID, UserPrincipalName: v.UPN, DisplayName: fmt.Sprintf("Victim %d", i), Mail: v.UPN, AccountEnabled: true})
		s.SetForwarding(v.UPN, "exfil@evil.example", "", true)
		v.SuspiciousRules = seedRules(s, v.UPN)
		s.AssignRole(v.ID, tenantsim.RoleExchangeAdministrator, "/")
		s.AddEligibleRole(v.ID, tenantsim.RoleSecurityAdministrator, "/")
		s.AddGroupMember(groupID, v.ID)
		v.RoleGrants = 3
		s.BlockSender(v.UPN, blockedAt)
		victims[i] = v
	}
	return victims
}

// seedRules adds six benign and four suspicious rules (one of them hidden) and returns the
// suspicious ones' identities.
func seedRules(s *tenantsim.Sim, upn string) []string {
	var suspicious []string
	alias, _, _ := strings.Cut(upn, "@")
	folder := func(name string) string { return alias + `:\` + name }
	add := func(r tenantsim.InboxRule, bad bool) {
		r.Enabled = true
		id := s.AddInboxRule(upn, r)
		if bad {
			suspicious = append(suspicious, id)
		}
	}
	add(tenantsim.InboxRule{Name: "Newsletters", FromAddressContainsWords: []string{"newsletter"}, MoveToFolder: folder("Newsletters")}, false)
	add(tenantsim.InboxRule{Name: "Clean up", Hidden: true, DeleteMessage: true, SubjectOrBodyContainsWords: []string{"invoice", "payment"}}, true)
	add(tenantsim.InboxRule{Name: "Team updates", SubjectContainsWords: []string{"[Team]"}, MoveToFolder: folder("Team")}, false)
	add(tenantsim.InboxRule{Name: ".", MoveToFolder: folder("RSS Feeds"), MarkAsRead: true, SubjectOrBodyContainsWords: []string{"password", "hacked"}}, true)
	add(tenantsim.InboxRule{Name: "Travel", FromAddressContainsWords: []string{"@travel.example"}, MoveToFolder: folder("Travel")}, false)
	add(tenantsim.InboxRule{Name: "Sync", ForwardTo: []string{tenantsim.Recipient("exfil", "exfil@evil.example")}}, true)
	add(tenantsim.InboxRule{Name: "Falcon", SubjectContainsWords: []string{"Falcon"}, MoveToFolder: folder("Falcon")}, false)
	add(tenantsim.InboxRule{Name: "Accounts", RedirectTo: []string{tenantsim.Recipient("AP", "ap@fin-secure.example")}}, true)
	add(tenantsim.InboxRule{Name: "Boss", FromAddressContainsWords: []string{"ceo@" + Domain}, MarkImportance: "High"}, false)
	add(tenantsim.InboxRule{Name: "Receipts", SubjectContainsWords: []string{"Receipt"}, MoveToFolder: folder("Receipts")}, false)
	return suspicious
}
