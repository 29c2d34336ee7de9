package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/preflight"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// getPreflight calls GET /api/preflight through the host and decodes it.
func (s *stack) getPreflight() preflight.Report {
	s.t.Helper()
	r := call(s.t, s.host, "GET", "/api/preflight", nil)
	var rep preflight.Report
	r.json(s.t, &rep)
	if r.status != 200 || len(rep.Steps) == 0 {
		s.t.Fatalf("preflight: %d %s", r.status, r.body)
	}
	return rep
}

func stepOf(r preflight.Report, name string) preflight.StepReport {
	for _, st := range r.Steps {
		if string(st.Name) == name {
			return st
		}
	}
	return preflight.StepReport{}
}

// writesTo lists the requests of the simulator that could change the tenant.
func writesTo(sim *tenantsim.Sim) []string {
	var out []string
	for _, r := range sim.Requests() {
		switch {
		case r.Service == "graph" && r.Method != "GET":
			out = append(out, r.Method+" "+r.Path)
		case r.Service == "exchange" && r.Cmdlet != "" && !strings.HasPrefix(r.Cmdlet, "Get-"):
			out = append(out, r.Cmdlet)
		}
	}
	return out
}

// The preflight of a fully configured deployment through the real handler: every step
// ready, and not one write reached Graph or Exchange.
func TestPreflightOfAConfiguredTenantThroughTheHost(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	rep := s.getPreflight()
	if rep.Status != preflight.Ready || rep.CheckedAt.IsZero() {
		t.Fatalf("status %s: %+v", rep.Status, rep)
	}
	for _, st := range rep.Steps {
		if st.Status != preflight.Ready {
			t.Errorf("%s: %s %v", st.Name, st.Status, st.Reasons)
		}
	}
	for _, c := range rep.Checks {
		if c.Status == preflight.Fail {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
	if w := writesTo(s.sim); len(w) != 0 {
		t.Fatalf("the preflight wrote to the tenant: %v", w)
	}
}

// Deployments that granted less, played by the simulator from the first token: the step
// and the check name what is missing and how to grant it.
func TestPreflightNamesWhatAMisconfiguredDeploymentLacks(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		configure func(*tenantsim.Sim)
		blocked   []string
		reason    string
		check     string
		fix       string
	}{
		"a Graph permission missing": {
			configure: func(sim *tenantsim.Sim) {
				sim.SetIdentityRoles("graph", slices.DeleteFunc(slices.Clone(tenantsim.DefaultGraphRoles), func(r string) bool { return r == "User-PasswordProfile.ReadWrite.All" }))
			},
			blocked: []string{"reset-password"}, reason: "User-PasswordProfile.ReadWrite.All",
			check: "graph-permission User-PasswordProfile.ReadWrite.All", fix: "appRoleAssignments",
		},
		"no directory role (the role script never ran)": {
			configure: func(sim *tenantsim.Sim) {
				sim.RemoveIdentityDirectoryRoles()
				sim.SetCanResetAdmins(false)
				sim.SetExchangeRBAC(false)
			},
			blocked: []string{"remove-forwarding", "remove-inbox-rules", "unblock-sender"}, reason: "refuses",
			check: "exchange read Get-AcceptedDomain", fix: "Add-RoleGroupMember",
		},
		"Exchange RBAC missing": {
			configure: func(sim *tenantsim.Sim) { sim.SetExchangeRBAC(false) },
			blocked:   []string{"remove-forwarding", "disable-mail-protocols", "remove-mailbox-delegates"}, reason: "403",
			check: "exchange read Get-AcceptedDomain", fix: "Add-RoleGroupMember",
		},
		"no Exchange.ManageAsApp": {
			configure: func(sim *tenantsim.Sim) { sim.SetIdentityRoles("exchange", nil) },
			blocked:   []string{"remove-forwarding", "remove-inbox-rules", "unblock-sender"}, reason: "Exchange.ManageAsApp",
			check: "exchange-token", fix: "00000002-0000-0ff1-ce00-000000000000",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startStackConfigured(t, appRoot, tt.configure)
			rep := s.getPreflight()
			if rep.Status != preflight.Blocked {
				t.Fatalf("status %s", rep.Status)
			}
			for _, name := range tt.blocked {
				if st := stepOf(rep, name); st.Status != preflight.Blocked || !strings.Contains(strings.Join(st.Reasons, " "), tt.reason) {
					t.Errorf("%s: %+v", name, st)
				}
			}
			found := false
			for _, c := range rep.Checks {
				if c.Name == tt.check {
					found = c.Status == preflight.Fail && strings.Contains(c.Fix, tt.fix)
				}
			}
			if !found {
				t.Errorf("no failing check %q with a fix naming %q: %+v", tt.check, tt.fix, rep.Checks)
			}
			if w := writesTo(s.sim); len(w) != 0 {
				t.Fatalf("the preflight wrote to the tenant: %v", w)
			}
		})
	}
}

// Tenants and deployments that work with less: each degraded step says why, and the check
// names the fix.
func TestPreflightNamesWhatWorksWithLess(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		configure func(*tenantsim.Sim)
		degraded  string
		reason    string
		check     string
	}{
		"no Entra ID P1 (no sign-in logs)": {configure: func(sim *tenantsim.Sim) { sim.SetSignInLogsLicensed(false) }, degraded: "investigate", reason: "P1", check: "licence sign-in logs"},
		"unified audit log off":            {configure: func(sim *tenantsim.Sim) { sim.SetUnifiedAuditLogIngestion(false) }, degraded: "investigate", reason: "UnifiedAuditLogIngestionEnabled", check: "audit log ingestion"},
		"no Entra ID P2 (no PIM)":          {configure: func(sim *tenantsim.Sim) { sim.SetPIMLicensed(false) }, degraded: "remove-admin-roles", reason: "PIM", check: "licence PIM"},
		"no Privileged Authentication Administrator": {
			configure: func(sim *tenantsim.Sim) { sim.RemoveIdentityDirectoryRoles() },
			degraded:  "reset-password", reason: "Privileged Authentication Administrator", check: "directory-role Privileged Authentication Administrator",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startStackConfigured(t, appRoot, tt.configure)
			rep := s.getPreflight()
			st := stepOf(rep, tt.degraded)
			if st.Status != preflight.Degraded || !strings.Contains(strings.Join(st.Reasons, " "), tt.reason) {
				t.Fatalf("%s: %+v", tt.degraded, st)
			}
			found := false
			for _, c := range rep.Checks {
				found = found || (c.Name == tt.check && c.Status == preflight.Warn)
			}
			if !found {
				t.Errorf("no warning %q: %+v", tt.check, rep.Checks)
			}
		})
	}
}

// The simulator refuses what a deployment without the permission would be refused: a real
// run's reset-password fails naming Graph's refusal, which the preflight said beforehand.
func TestAMissingGraphPermissionFailsTheStepThePreflightNamed(t *testing.T) {
	t.Parallel()
	s := startStackConfigured(t, appRoot, func(sim *tenantsim.Sim) {
		sim.SetIdentityRoles("graph", slices.DeleteFunc(slices.Clone(tenantsim.DefaultGraphRoles), func(r string) bool { return r == "User-PasswordProfile.ReadWrite.All" }))
	})
	r := call(t, s.host, "POST", "/api/remediations", map[string]any{"user": s.demo.AssistantUPN, "mode": "sync", "steps": []string{"reset-password", "revoke-sessions"}})
	var run struct {
		Steps []struct {
			Name, Status string
			Error        *struct{ Code, Message string }
		}
	}
	r.json(t, &run)
	for _, st := range run.Steps {
		if st.Name == "reset-password" && (st.Status != "failed" || st.Error == nil || !strings.Contains(st.Error.Code+st.Error.Message, "Authorization_RequestDenied")) {
			t.Fatalf("reset-password without its permission: %s %+v (%s)", st.Status, st.Error, r.body)
		}
		if st.Name == "revoke-sessions" && st.Status != "succeeded" {
			t.Fatalf("revoke-sessions: %s", st.Status)
		}
	}
}
