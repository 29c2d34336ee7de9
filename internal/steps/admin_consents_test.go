package steps

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

const (
	attackerApp = "7a7a7a7a-0000-4000-8000-00000000a77a" // "Backup Helper", the attacker's
	hrPortal    = "4e4e4e4e-0000-4000-8000-0000000044e4" // an enterprise app with roles for users
	mailRead    = "810c84a8-4a9e-49e6-bf7d-12d183f40d01" // Microsoft Graph's Mail.Read app role
	hrAdminRole = "9d9d9d9d-0000-4000-8000-0000000009d9"
	otherApp    = "5d5d5d5d-0000-4000-8000-00000000d5d5"
)

// adminConsentTenant is the demo tenant where the user, an administrator, consented for the
// whole tenant to the attacker's app, granted it Mail.Read as an application permission and
// gave a colleague an app role, two hours ago; another administrator's consent of the same
// hour and the user's own consent of ten days ago (outside the look-back) are not the run's.
func adminConsentTenant(t *testing.T) (*Runner, *tenantsim.Sim, tenantsim.Demo, time.Time) {
	r, sim, demo := simRunner(t)
	sim.NameServicePrincipal(attackerApp, "0f0f0f0f-1111-4222-8333-444455556666", "Backup Helper")
	sim.NameServicePrincipal(hrPortal, "1e1e1e1e-1111-4222-8333-444455556666", "HR Portal")
	sim.NameServicePrincipal(otherApp, "2d2d2d2d-1111-4222-8333-444455556666", "Travel Desk")
	at := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	sim.ConsentForTenant(demo.UserID, attackerApp, demo.GraphResourceID, "Mail.Read Files.Read.All", at, tenantsim.AttackerIP)
	sim.AssignAppRoleAs(demo.UserID, tenantsim.AppRoleAssignment{AppRoleID: mailRead, PrincipalID: attackerApp, ResourceID: demo.GraphResourceID, Created: at}, tenantsim.AttackerIP)
	sim.AssignAppRoleAs(demo.UserID, tenantsim.AppRoleAssignment{AppRoleID: hrAdminRole, PrincipalID: demo.ManagerID, ResourceID: hrPortal, Created: at.Add(time.Minute)}, tenantsim.AttackerIP)
	sim.ConsentForTenant(demo.GlobalAdminID, otherApp, demo.GraphResourceID, "User.Read", at, "")
	sim.AssignAppRoleAs(demo.GlobalAdminID, tenantsim.AppRoleAssignment{AppRoleID: mailRead, PrincipalID: otherApp, ResourceID: demo.GraphResourceID, Created: at}, "")
	sim.ConsentForTenant(demo.UserID, demo.IllicitAppID, demo.GraphResourceID, "Sites.Read.All", at.Add(-10*24*time.Hour), tenantsim.AttackerIP)
	return r, sim, demo, at
}

func tenantGrants(sim *tenantsim.Sim) map[string]string {
	out := map[string]string{}
	for _, g := range sim.PermissionGrants("") {
		if g.ConsentType == "AllPrincipals" {
			out[g.ClientID] = g.Scope
		}
	}
	return out
}

func roleKeys(sim *tenantsim.Sim) []string {
	var out []string
	for _, a := range sim.AppRoleAssignments() {
		out = append(out, a.PrincipalID+" "+a.ResourceID+" "+a.AppRoleID)
	}
	slices.Sort(out)
	return out
}

func TestRevokeAppConsentsMadeAsAnAdministrator(t *testing.T) {
	ctx := context.Background()
	include := Options{AppConsents: AppConsentOptions{IncludeAdminConsents: true}}

	t.Run("without the option they are named, left alone, and a person decides", func(t *testing.T) {
		r, sim, demo, _ := adminConsentTenant(t)
		grants, roles := tenantGrants(sim), roleKeys(sim)
		out := r.Run(ctx, RevokeAppConsents, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}})
		if out.Status != runs.StepActionRequired || len(out.Changes) != 1 || out.Changes[0].Action != "consent_revoked" {
			t.Fatalf("outcome %+v", out)
		}
		for _, want := range []string{"tenant-wide app Backup Helper", "Mail.Read Files.Read.All", "app role " + mailRead + " of Microsoft Graph",
			"granted to serviceprincipal Backup Helper", "app role " + hrAdminRole + " of HR Portal", "granted to user Alex Wilber", "includeAdminConsents: true"} {
			if !strings.Contains(out.Message, want) {
				t.Errorf("message lacks %q: %s", want, out.Message)
			}
		}
		for _, not := range []string{"Travel Desk", "Sites.Read.All", "Contoso Expenses"} {
			if strings.Contains(out.Message, not) {
				t.Errorf("message names %q, not the user's: %s", not, out.Message)
			}
		}
		if !maps(tenantGrants(sim), grants) || !slices.Equal(roleKeys(sim), roles) {
			t.Fatalf("changed without the option: %v %v", tenantGrants(sim), roleKeys(sim))
		}
	})

	t.Run("with the option they are removed, recorded first, and restored", func(t *testing.T) {
		r, sim, demo, _ := adminConsentTenant(t)
		target := Target{ID: demo.UserID, UPN: demo.UPN}
		grants, roles := tenantGrants(sim), roleKeys(sim)
		if out := r.Run(ctx, RevokeAppConsents, Input{Target: target, Options: include, DryRun: true}); out.Status != runs.StepPlanned || len(out.Changes) != 4 || tenantWrites(sim) != 0 {
			t.Fatalf("dry run %+v", out)
		}
		rec := &recorder{sim: sim}
		out := r.Run(ctx, RevokeAppConsents, Input{Target: target, Options: include, Record: rec.record})
		if out.Status != runs.StepSucceeded || len(out.Changes) != 4 || rec.writes != 0 || len(rec.evidence) != 4 || out.Message != "" {
			t.Fatalf("outcome %+v, evidence after %d writes", out, rec.writes)
		}
		var actions []string
		for _, c := range out.Changes {
			actions = append(actions, c.Action)
			if c.Restore == nil {
				t.Errorf("change without a restore payload: %+v", c)
			}
		}
		if want := []string{"consent_revoked", "tenant_consent_revoked", "app_role_assignment_removed", "app_role_assignment_removed"}; !slices.Equal(actions, want) {
			t.Errorf("actions %v, want %v", actions, want)
		}
		left := tenantGrants(sim)
		if _, ok := left[attackerApp]; ok || left[otherApp] != "User.Read" || left[demo.IllicitAppID] != "Sites.Read.All" || len(left) != 3 {
			t.Fatalf("tenant-wide grants left %v", left)
		}
		if got := roleKeys(sim); len(got) != 1 || got[0] != otherApp+" "+demo.GraphResourceID+" "+mailRead {
			t.Fatalf("app role assignments left %v", got)
		}
		if again := r.Run(ctx, RevokeAppConsents, Input{Target: target, Options: include}); again.Status != runs.StepNoChange {
			t.Fatalf("second run %+v", again)
		}

		user := runs.UserRef{ID: demo.UserID, UserPrincipalName: demo.UPN}
		for _, c := range out.Changes[1:] {
			for _, want := range []string{"restored", "already_present"} {
				got, err := r.Restore(ctx, RevokeAppConsents, user, c, "test")
				if err != nil || len(got) != 1 || got[0].Action != want {
					t.Fatalf("restore of %s = %+v, %v; want %s", c.Target, got, err, want)
				}
			}
		}
		if !maps(tenantGrants(sim), grants) || !slices.Equal(roleKeys(sim), roles) {
			t.Fatalf("restored %v %v, want %v %v", tenantGrants(sim), roleKeys(sim), grants, roles)
		}
	})

	t.Run("an identity that may not delete app role assignments leaves them for a person", func(t *testing.T) {
		r, sim, demo, _ := adminConsentTenant(t)
		sim.SetIdentityRoles("graph", tenantsim.DefaultGraphRoles) // no AppRoleAssignment.ReadWrite.All
		roles := roleKeys(sim)
		out := r.Run(ctx, RevokeAppConsents, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: include})
		if out.Status != runs.StepActionRequired || len(out.Changes) != 2 || !strings.Contains(out.Message, "AppRoleAssignment.ReadWrite.All") ||
			!strings.Contains(out.Message, "HR Portal") {
			t.Fatalf("outcome %+v", out)
		}
		if _, ok := tenantGrants(sim)[attackerApp]; ok || !slices.Equal(roleKeys(sim), roles) {
			t.Fatalf("grants %v, roles %v", tenantGrants(sim), roleKeys(sim))
		}
	})

	t.Run("an audit log the identity cannot read is said, not taken for nothing", func(t *testing.T) {
		r, sim, demo, _ := adminConsentTenant(t)
		var roles []string
		for _, role := range tenantsim.DefaultGraphRoles {
			if role != "AuditLog.Read.All" {
				roles = append(roles, role)
			}
		}
		sim.SetIdentityRoles("graph", roles)
		out := r.Run(ctx, RevokeAppConsents, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: include})
		if out.Status != runs.StepActionRequired || len(out.Changes) != 1 || !strings.Contains(out.Message, "AuditLog.Read.All") {
			t.Fatalf("outcome %+v", out)
		}
	})
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAppConsentsOption(t *testing.T) {
	for raw, ok := range map[string]bool{
		`{"appConsents":{"includeAdminConsents":true}}`:  true,
		`{"appConsents":{"includeAdminConsents":false}}`: true,
		`{"appConsents":{}}`:                             true,
		`{"appConsents":{"includeAdminConsents":"yes"}}`: false,
		`{"appConsents":{"includeAdmin":true}}`:          false,
		`{"appConsents":true}`:                           false,
	} {
		o, err := ParseOptions([]byte(raw))
		if (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
		if ok && o.AppConsents.IncludeAdminConsents != strings.Contains(raw, "true") {
			t.Errorf("%s: %+v", raw, o.AppConsents)
		}
	}
}
