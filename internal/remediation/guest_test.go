package remediation_test

import (
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// A guest whose password belongs to its home organisation: the reset is refused here, so the
// step asks a person, naming the home organisation; sessions here are revoked all the same,
// and the sender stays restricted until the account is secured.
func TestGuestWhosePasswordIsAtHomeNeedsItsHomeOrganisation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	guest := tenantsim.User{ID: "b0b0b0b0-0000-4000-8000-0000000000e1", UserPrincipalName: "megan.b_fabrikam.example#EXT#@contoso.onmicrosoft.com",
		DisplayName: "Megan (Fabrikam)", Mail: "megan.b@fabrikam.example", AccountEnabled: true, HomeDirectoryPassword: true}
	e.sim.AddUser(guest)
	run := e.start(remediation.StartRequest{User: guest.UserPrincipalName, Mode: "sync", Reason: "guest sign-in from a new country"})

	reset := run.Step("reset-password")
	if reset.Status != runs.StepActionRequired || !strings.Contains(reset.Message, "fabrikam.example") || !strings.Contains(reset.Message, "home organisation") {
		t.Fatalf("reset-password %s %q; want action_required naming fabrikam.example\n%s", reset.Status, reset.Message, dump(run))
	}
	if st := run.Step("revoke-sessions").Status; st != runs.StepSucceeded {
		t.Errorf("revoke-sessions %s; sessions here are revoked all the same", st)
	}
	if run.Status != runs.ActionRequired {
		t.Errorf("run %s, want action_required", run.Status)
	}
	if len(e.sim.PasswordResets(guest.ID)) != 0 {
		t.Error("the simulator recorded a reset it refused")
	}
}

// PIM for Groups needs a permission of its own (and a service may not offer the API): a
// refusal of that listing is noted, and the directory roles are removed all the same.
func TestAdminRolesAreRemovedWhenPIMForGroupsCannotBeRead(t *testing.T) {
	t.Parallel()
	for _, status := range []int{403, 404} {
		e := newEnv(t, remediation.Config{})
		e.sim.FailNext(100, "privilegedAccess/group/eligibilitySchedules", status)
		run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions", "remove-admin-roles"}})
		st := run.Step("remove-admin-roles")
		if st.Status != runs.StepSucceeded || len(st.Changes) == 0 || !strings.Contains(st.Message, "PIM for Groups") {
			t.Fatalf("%d: remove-admin-roles %s %q with %d changes\n%s", status, st.Status, st.Message, len(st.Changes), dump(run))
		}
		if n := len(e.sim.RoleAssignments(e.demo.UserID)); n != 0 {
			t.Errorf("%d: %d direct assignments left", status, n)
		}
	}
}
