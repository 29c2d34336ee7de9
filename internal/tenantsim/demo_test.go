package tenantsim

import (
	"slices"
	"testing"
)

func TestSeedDemo(t *testing.T) {
	t.Parallel()
	sim := New(Options{})
	d := SeedDemo(sim)

	u, ok := sim.User("ADELE.VANCE@contoso.example")
	if !ok || u.ID != d.UserID || u.OnPremisesSyncEnabled {
		t.Fatalf("demo user = %+v %v", u, ok)
	}
	if synced, _ := sim.User(d.SyncedUPN); !synced.OnPremisesSyncEnabled {
		t.Error("hybrid user is not synced")
	}
	mb := sim.Mailbox(d.UPN)
	if mb.ForwardingSmtpAddress != "smtp:exfil@evil.example" || !mb.DeliverToMailboxAndForward {
		t.Errorf("mailbox = %+v", mb)
	}

	rules := sim.InboxRules(d.UPN)
	if len(rules) != 12 || len(d.SuspiciousRules) != 4 || len(d.BenignRules) != 6 || len(d.SystemRules) != 2 {
		t.Fatalf("rules: %d total, %d suspicious, %d benign, %d system", len(rules), len(d.SuspiciousRules), len(d.BenignRules), len(d.SystemRules))
	}
	byIdentity := map[string]InboxRule{}
	for _, r := range rules {
		byIdentity[r.Identity] = r
	}
	var suspicious []string
	for _, id := range d.SuspiciousRules {
		suspicious = append(suspicious, byIdentity[id].Name)
	}
	if !slices.Equal(suspicious, []string{"Clean up", ".", "Sync", "Accounts"}) {
		t.Errorf("suspicious rules = %v", suspicious)
	}
	if r := byIdentity[d.SuspiciousRules[0]]; !r.Hidden || !r.DeleteMessage || !slices.Contains(r.SubjectOrBodyContainsWords, "invoice") {
		t.Errorf("hidden delete rule = %+v", r)
	}
	for _, id := range d.SystemRules {
		if !byIdentity[id].Hidden {
			t.Errorf("system rule %q is not hidden", byIdentity[id].Name)
		}
	}

	if got := sim.RoleAssignments(d.UserID); len(got) != 2 {
		t.Errorf("direct assignments = %+v", got)
	}
	if got := sim.EligibleRoles(d.UserID); len(got) != 1 || got[0].RoleDefinitionID != RoleSecurityAdministrator {
		t.Errorf("eligible = %+v", got)
	}
	if got := sim.RoleAssignments(d.HelpdeskGroupID); len(got) != 1 || got[0].RoleDefinitionID != RoleUserAdministrator {
		t.Errorf("group roles = %+v", got)
	}
	if !slices.Contains(sim.GroupMembers(d.HelpdeskGroupID), d.UserID) {
		t.Error("demo user is not in the helpdesk group")
	}
	for _, ga := range []string{d.GlobalAdminID, d.BreakGlassID} {
		if got := sim.RoleAssignments(ga); len(got) != 1 || got[0].RoleDefinitionID != RoleGlobalAdministrator {
			t.Errorf("global admin %s roles = %+v", ga, got)
		}
	}
	if b := sim.BlockedSenders(); len(b) != 1 || b[0].SenderAddress != d.UPN {
		t.Errorf("blocked = %+v", b)
	}
}
