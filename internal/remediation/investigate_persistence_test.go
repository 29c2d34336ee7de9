package remediation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// A secret the attacker added, as the compromised admin, to an application's service
// principal survives every containment step: the investigation names it for a person,
// through the real Graph client and the simulator's directory audit log; the same activity
// made by another admin on the account is not named.
func TestInvestigationNamesAWayInLeftElsewhereInTheTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.AddDirectoryAudit(tenantsim.DirectoryAudit{Time: time.Now().Add(-90 * time.Minute), Activity: "Add service principal credentials",
		Category: "ApplicationManagement", Service: "Core Directory", InitiatorID: e.demo.UserID, InitiatorUPN: e.demo.UPN,
		IP: "198.51.100.23", TargetID: "c0ffee00-0000-4000-8000-00000000c0de", TargetName: "Mail Sync Pro", TargetType: "ServicePrincipal"})
	e.sim.AddDirectoryAudit(tenantsim.DirectoryAudit{Time: time.Now().Add(-80 * time.Minute), Activity: "Add member to role",
		Category: "RoleManagement", Service: "Core Directory", InitiatorID: e.demo.GlobalAdminID, InitiatorUPN: e.demo.GlobalAdminUPN,
		TargetID: e.demo.UserID, TargetName: e.demo.UPN, TargetType: "User"})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Reason: "INC-persist", Steps: []string{"investigate"}})
	st, _ := findingsOf(t, e.get(run.RunID))
	var named []string
	for _, s := range st.Findings.Signals {
		if strings.HasPrefix(s, "possible persistence: ") {
			named = append(named, s)
		}
	}
	if len(named) != 1 || !strings.Contains(named[0], "Add service principal credentials") || !strings.Contains(named[0], "undo it by hand") {
		t.Fatalf("persistence signals %q (all signals %q)", named, st.Findings.Signals)
	}
}
