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
