package steps

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

var simSerial atomic.Int32

// simRunner starts the tenant simulator with the demo tenant and a runner whose directory is
// the real Graph client, getting its tokens from the simulator's managed identity endpoint.
func simRunner(t *testing.T) (*Runner, *tenantsim.Sim, tenantsim.Demo) {
	t.Helper()
	return simRunnerWith(t, tenantsim.SeedDemo)
}

func simRunnerWith(t *testing.T, seed func(*tenantsim.Sim) tenantsim.Demo) (*Runner, *tenantsim.Sim, tenantsim.Demo) {
	t.Helper()
	sim := tenantsim.New(tenantsim.Options{})
	demo := seed(sim)
	if _, err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	t.Setenv("IDENTITY_ENDPOINT", sim.IdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", sim.IdentityHeader())
	// A client id of its own: MSAL caches managed identity tokens process-wide.
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ID: azidentity.ClientID(fmt.Sprintf("00000000-0000-0000-0002-%012d", simSerial.Add(1)))})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.New(graph.Options{BaseURL: sim.GraphURL(), Credential: cred, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{Directory: g}, sim, demo
}

// recorder is an Input.Record that keeps the evidence and notes how many tenant writes the
// simulator had served when it was recorded.
type recorder struct {
	sim      *tenantsim.Sim
	evidence []runs.Change
	writes   int
}

func (rec *recorder) record(_ context.Context, planned []runs.Change) error {
	rec.evidence, rec.writes = planned, tenantWrites(rec.sim)
	return nil
}

func tenantWrites(sim *tenantsim.Sim) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Service == tenantsim.ServiceGraph && r.Method != http.MethodGet {
			n++
		}
	}
	return n
}

func TestBlockSignIn(t *testing.T) {
	ctx := context.Background()
	t.Run("blocks, records first, then no_change; restore enables once", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		rec := &recorder{sim: sim}
		target := Target{ID: demo.UserID, UPN: demo.UPN}
		out := r.Run(ctx, BlockSignIn, Input{Target: target, Record: rec.record})
		if out.Status != runs.StepSucceeded || len(out.Changes) != 1 || out.Changes[0].Restore == nil {
			t.Fatalf("outcome %+v", out)
		}
		if u, _ := sim.User(demo.UserID); u.AccountEnabled {
			t.Fatal("sign-in not blocked")
		}
		if len(rec.evidence) != 1 || rec.writes != 0 {
			t.Fatalf("evidence %+v recorded after %d writes", rec.evidence, rec.writes)
		}
		again := r.Run(ctx, BlockSignIn, Input{Target: target})
		if again.Status != runs.StepNoChange || len(again.Changes) != 0 {
			t.Fatalf("second run %+v", again)
		}
		user := runs.UserRef{ID: demo.UserID, UserPrincipalName: demo.UPN}
		for i, want := range []string{"restored", "already_present"} {
			got, err := r.Restore(ctx, BlockSignIn, user, out.Changes[0], "test")
			if err != nil || len(got) != 1 || got[0].Action != want {
				t.Fatalf("restore %d = %+v, %v; want %s", i, got, err, want)
			}
			if u, _ := sim.User(demo.UserID); !u.AccountEnabled {
				t.Fatalf("restore %d: account still disabled", i)
			}
		}
	})
	t.Run("dry run plans and writes nothing", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, DryRun: true,
			Record: func(context.Context, []runs.Change) error { t.Error("a dry run recorded evidence"); return nil }})
		if out.Status != runs.StepPlanned || len(out.Changes) != 1 || tenantWrites(sim) != 0 {
			t.Fatalf("dry run %+v, %d writes", out, tenantWrites(sim))
		}
	})
	t.Run("a synced user needs on-premises AD", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.SyncedUserID, UPN: demo.SyncedUPN, Synced: true}})
		if out.Status != runs.StepActionRequired || !strings.Contains(out.Message, "on-premises") || tenantWrites(sim) != 0 {
			t.Fatalf("synced %+v, %d writes", out, tenantWrites(sim))
		}
		// Even when the resolution missed the flag, the directory's answer is understood.
		out = r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.SyncedUserID, UPN: demo.SyncedUPN}})
		if out.Status != runs.StepActionRequired {
			t.Fatalf("synced, flag unread: %+v", out)
		}
	})
	t.Run("never the last Global Administrator through a group whose isAssignableToRole does not come back", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		// Megan holds Global Administrator through a role-assignable group only, and the
		// break-glass account is disabled: she is the last one. The memberOf answer leaves
		// isAssignableToRole out.
		const gaGroup = "9a9a0000-0000-4000-8000-00000000ca11"
		sim.AddGroup(tenantsim.Group{ID: gaGroup, DisplayName: "Tier0 Admins", IsAssignableToRole: true})
		sim.AddGroupMember(gaGroup, demo.GlobalAdminID)
		sim.AssignRole(gaGroup, tenantsim.RoleGlobalAdministrator, "/")
		for _, a := range sim.RoleAssignments(demo.GlobalAdminID) {
			sim.RemoveRoleAssignment(a.ID)
		}
		bg, _ := sim.User(demo.BreakGlassID)
		bg.AccountEnabled = false
		sim.AddUser(bg)
		sim.SetOmitAssignableToRole(true)
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.GlobalAdminID, UPN: demo.GlobalAdminUPN}})
		if out.Status != runs.StepActionRequired || !strings.Contains(out.Message, "last enabled Global Administrator") {
			t.Fatalf("last GA through a group: %+v", out)
		}
		if u, _ := sim.User(demo.GlobalAdminID); !u.AccountEnabled {
			t.Fatal("the last Global Administrator was disabled")
		}
	})
	t.Run("never the last enabled Global Administrator", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		megan := Target{ID: demo.GlobalAdminID, UPN: demo.GlobalAdminUPN}
		bg, _ := sim.User(demo.BreakGlassID)
		bg.AccountEnabled = false
		sim.AddUser(bg)
		out := r.Run(ctx, BlockSignIn, Input{Target: megan})
		if out.Status != runs.StepActionRequired || !strings.Contains(out.Message, "last enabled Global Administrator") {
			t.Fatalf("last GA: %+v", out)
		}
		if u, _ := sim.User(demo.GlobalAdminID); !u.AccountEnabled {
			t.Fatal("the last Global Administrator was disabled")
		}
		bg.AccountEnabled = true
		sim.AddUser(bg)
		if out := r.Run(ctx, BlockSignIn, Input{Target: megan}); out.Status != runs.StepSucceeded {
			t.Fatalf("with another enabled Global Administrator: %+v", out)
		}
	})
	t.Run("an admin without the privileged role is refused with what to do", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		sim.SetCanResetAdmins(false)
		out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}})
		if out.Status != runs.StepFailed || out.Transient || !strings.Contains(out.Error.Message, "Privileged Authentication Administrator") {
			t.Fatalf("outcome %+v", out)
		}
	})
}

func TestRemoveMFAMethods(t *testing.T) {
	ctx := context.Background()
	t.Run("every method but the password, the default phone last", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		rec := &recorder{sim: sim}
		target := Target{ID: demo.UserID, UPN: demo.UPN}
		out := r.Run(ctx, RemoveMFAMethods, Input{Target: target, Record: rec.record})
		if out.Status != runs.StepSucceeded || len(out.Changes) != 4 {
			t.Fatalf("outcome %+v", out)
		}
		// The default phone is refused in Graph's second wording ("... matches the user's
		// current default authentication method ..."), then deleted last; the step says what
		// the v1.0 listing cannot show.
		if !strings.Contains(out.Message, "hardware OATH tokens and external authentication methods") {
			t.Errorf("message %q does not say what the listing omits", out.Message)
		}
		if left := sim.AuthMethods(demo.UserID); len(left) != 0 {
			t.Fatalf("left: %+v", left)
		}
		if len(rec.evidence) != 4 || rec.writes != 0 {
			t.Fatalf("evidence %d recorded after %d writes", len(rec.evidence), rec.writes)
		}
		last := out.Changes[3]
		if before := last.Before.(map[string]any); before["type"] != graph.MethodPhone || before["phoneNumber"] != "+1 ******0123" || last.Restore != nil {
			t.Errorf("last change %+v", last)
		}
		var deletes []string
		for _, req := range sim.Requests() {
			if req.Method == http.MethodDelete {
				if req.Status != http.StatusNoContent {
					t.Errorf("%s answered %d", req.Path, req.Status)
				}
				deletes = append(deletes, req.Path)
			}
		}
		if len(deletes) != 4 || !strings.Contains(deletes[3], "/phoneMethods/"+tenantsim.PhoneMobileID) {
			t.Errorf("deletes %v: the default phone must go last", deletes)
		}
		if again := r.Run(ctx, RemoveMFAMethods, Input{Target: target}); again.Status != runs.StepNoChange {
			t.Fatalf("second run %+v", again)
		}
	})
	t.Run("registeredSince removes only the attacker's", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		opts := Options{MFAMethods: MFAMethodOptions{RegisteredSince: demo.AttackerSince}}
		// A user's own email address registered ten days ago: no createdDateTime, but the audit
		// log dates it before registeredSince, so it is kept without a person.
		sim.AddAuthMethod(demo.UserID, tenantsim.AuthMethod{Type: "email", Created: time.Now().UTC().AddDate(0, 0, -10), Props: map[string]any{"emailAddress": "adele@fabrikam.example"}})
		out := r.Run(ctx, RemoveMFAMethods, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: opts})
		// The attacker's Authenticator shows createdDateTime null: dated by its registration in
		// the directory audit log and removed. The phone, registered before the log's 30 days,
		// has no time anywhere: kept, named, and a person must decide.
		if out.Status != runs.StepActionRequired || len(out.Changes) != 1 || !strings.Contains(out.Changes[0].Target, demo.AttackerMethodID) {
			t.Fatalf("outcome %+v", out)
		}
		if before := out.Changes[0].Before.(map[string]any); before["registeredPerAuditLog"] == nil || !strings.Contains(out.Changes[0].Reasons[0], "directory audit log") ||
			!strings.Contains(out.Changes[0].Reasons[0], tenantsim.AttackerIP) {
			t.Errorf("the removal does not say how it was dated: %+v", out.Changes[0])
		}
		if !strings.Contains(out.Message, "phone +1 ******0123") || !strings.Contains(out.Message, "A person must decide") || strings.Contains(out.Message, "email") {
			t.Errorf("the undated phone (only) is not named: %q", out.Message)
		}
		audits := 0
		for _, req := range sim.Requests() {
			if strings.Contains(req.Path, "auditLogs/directoryAudits") {
				audits++
				if !strings.Contains(req.RawQuery, "targetResources") {
					t.Errorf("directory audits read without the user as target: %s", req.RawQuery)
				}
			}
		}
		if audits == 0 {
			t.Error("the directory audit log was not read")
		}
		var left []string
		for _, m := range sim.AuthMethods(demo.UserID) {
			left = append(left, m.ID)
		}
		if !slices.Equal(left[:len(left)-1], demo.UserMethodIDs) || len(left) != len(demo.UserMethodIDs)+1 {
			t.Errorf("left %v, want the user's own %v and her email", left, demo.UserMethodIDs)
		}
	})
	t.Run("two undated Authenticators the audit log cannot tell apart are kept", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		// Another Authenticator for push and codes, registered ten days ago: one registration
		// before registeredSince and one after, for two methods Graph shows undated.
		own := sim.AddAuthMethod(demo.UserID, tenantsim.AuthMethod{Type: "microsoftAuthenticator", Created: time.Now().UTC().AddDate(0, 0, -10),
			Props: map[string]any{"displayName": "iPad", "deviceTag": "SoftwareTokenActivated"}})
		opts := Options{MFAMethods: MFAMethodOptions{RegisteredSince: demo.AttackerSince}}
		out := r.Run(ctx, RemoveMFAMethods, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: opts})
		if out.Status != runs.StepActionRequired || len(out.Changes) != 0 || !strings.Contains(out.Message, own) || !strings.Contains(out.Message, demo.AttackerMethodID) {
			t.Fatalf("outcome %+v", out)
		}
		if len(sim.AuthMethods(demo.UserID)) != 5 {
			t.Fatal("a method went")
		}
	})
	t.Run("an attacker's default method needs a person", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		sim.SetDefaultMethod(demo.UserID, demo.AttackerMethodID)
		opts := Options{MFAMethods: MFAMethodOptions{RegisteredSince: demo.AttackerSince}}
		out := r.Run(ctx, RemoveMFAMethods, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: opts})
		if out.Status != runs.StepActionRequired || len(out.Changes) != 0 || !strings.Contains(out.Message, "default sign-in method") {
			t.Fatalf("outcome %+v", out)
		}
		if len(sim.AuthMethods(demo.UserID)) != 4 {
			t.Fatal("a method went")
		}
	})
	t.Run("an attacker's default phone, refused in the second wording, needs a person", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		office := sim.AddAuthMethod(demo.UserID, tenantsim.AuthMethod{Type: "phone", RegisteredFrom: tenantsim.AttackerIP, Props: map[string]any{"phoneNumber": "+44 2079460000", "phoneType": "office"}})
		sim.SetDefaultMethod(demo.UserID, office)
		opts := Options{MFAMethods: MFAMethodOptions{RegisteredSince: demo.AttackerSince}}
		out := r.Run(ctx, RemoveMFAMethods, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, Options: opts})
		if out.Status != runs.StepActionRequired || len(out.Changes) != 1 || !strings.Contains(out.Message, "default sign-in method") || !strings.Contains(out.Message, office) {
			t.Fatalf("outcome %+v", out)
		}
	})
	t.Run("a default Authenticator goes once the others are gone", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		sim.SetDefaultMethod(demo.UserID, demo.UserMethodIDs[1])
		out := r.Run(ctx, RemoveMFAMethods, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}})
		if out.Status != runs.StepSucceeded || len(out.Changes) != 4 || len(sim.AuthMethods(demo.UserID)) != 0 {
			t.Fatalf("outcome %+v, left %+v", out, sim.AuthMethods(demo.UserID))
		}
	})
	t.Run("p1: a default Authenticator goes after the attacker's phone", func(t *testing.T) {
		r, sim, d := simRunnerWith(t, tenantsim.SeedP1)
		out := r.Run(ctx, RemoveMFAMethods, Input{Target: Target{ID: d.UserID, UPN: d.UPN}})
		if out.Status != runs.StepSucceeded || len(out.Changes) != 2 || len(sim.AuthMethods(d.UserID)) != 0 {
			t.Fatalf("outcome %+v, left %+v", out, sim.AuthMethods(d.UserID))
		}
		refused := 0
		for _, req := range sim.Requests() {
			if req.Method == http.MethodDelete && req.Status == http.StatusBadRequest {
				refused++
			}
		}
		if refused != 1 {
			t.Errorf("%d deletions refused, want the default Authenticator's first attempt only", refused)
		}
	})
	t.Run("dry run plans and writes nothing; no methods is no_change", func(t *testing.T) {
		r, sim, demo := simRunner(t)
		out := r.Run(ctx, RemoveMFAMethods, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}, DryRun: true})
		if out.Status != runs.StepPlanned || len(out.Changes) != 4 || tenantWrites(sim) != 0 {
			t.Fatalf("dry run %+v", out)
		}
		if out := r.Run(ctx, RemoveMFAMethods, Input{Target: Target{ID: demo.GlobalAdminID, UPN: demo.GlobalAdminUPN}}); out.Status != runs.StepNoChange {
			t.Fatalf("no methods: %+v", out)
		}
	})
}

func TestRevokeAppConsents(t *testing.T) {
	ctx := context.Background()
	r, sim, demo := simRunner(t)
	rec := &recorder{sim: sim}
	target := Target{ID: demo.UserID, UPN: demo.UPN}

	if out := r.Run(ctx, RevokeAppConsents, Input{Target: target, DryRun: true}); out.Status != runs.StepPlanned || tenantWrites(sim) != 0 {
		t.Fatalf("dry run %+v", out)
	}
	before := sim.PermissionGrants(demo.UserID)[0]
	out := r.Run(ctx, RevokeAppConsents, Input{Target: target, Record: rec.record})
	if out.Status != runs.StepSucceeded || len(out.Changes) != 1 || rec.writes != 0 || len(rec.evidence) != 1 {
		t.Fatalf("outcome %+v, evidence after %d writes", out, rec.writes)
	}
	if got := sim.PermissionGrants(demo.UserID); len(got) != 0 {
		t.Fatalf("grants left %+v", got)
	}
	if c := out.Changes[0]; !strings.HasPrefix(c.Target, "app Mail Sync Pro ("+demo.IllicitAppID+") on Microsoft Graph") ||
		c.Before.(map[string]any)["clientDisplayName"] != "Mail Sync Pro" || out.Message != "" {
		t.Errorf("change %+v, message %q", c, out.Message)
	}
	// The administrator's tenant-wide consent and another user's own consent stay.
	var others []string
	for _, g := range sim.PermissionGrants("") {
		others = append(others, g.ID)
	}
	if !slices.Equal(others, []string{demo.AdminGrantID, demo.OtherUserGrantID}) {
		t.Fatalf("other grants %v", others)
	}
	if again := r.Run(ctx, RevokeAppConsents, Input{Target: target}); again.Status != runs.StepNoChange {
		t.Fatalf("second run %+v", again)
	}

	user := runs.UserRef{ID: demo.UserID, UserPrincipalName: demo.UPN}
	for i, want := range []string{"restored", "already_present"} {
		got, err := r.Restore(ctx, RevokeAppConsents, user, out.Changes[0], "test")
		if err != nil || len(got) != 1 || got[0].Action != want {
			t.Fatalf("restore %d = %+v, %v; want %s", i, got, err, want)
		}
	}
	if got := sim.PermissionGrants(demo.UserID); len(got) != 1 || got[0] != before {
		t.Fatalf("restored %+v, want %+v", got, before)
	}
	// The user consented again meanwhile with fewer scopes: restore adds the missing ones.
	if err := r.Directory.SetPermissionGrantScope(ctx, before.ID, "User.Read"); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Restore(ctx, RevokeAppConsents, user, out.Changes[0], "test"); err != nil || got[0].Action != "restored" {
		t.Fatalf("restore over a narrower grant = %+v, %v", got, err)
	}
	if got := sim.PermissionGrants(demo.UserID); len(got) != 1 || len(strings.Fields(got[0].Scope)) != len(strings.Fields(before.Scope)) {
		t.Fatalf("merged scopes %+v", got)
	}
}

func TestRegisteredSinceOption(t *testing.T) {
	for raw, ok := range map[string]bool{
		`{"mfaMethods":{"registeredSince":"2026-11-29T08:00:00Z"}}`:      true,
		`{"mfaMethods":{"registeredSince":"2026-11-29T08:00:00+01:00"}}`: true,
		`{"mfaMethods":{"registeredSince":"yesterday"}}`:                 false,
		`{"mfaMethods":{"registeredSince":"2026-11-29"}}`:                false,
		`{"mfaMethods":{"since":"2026-11-29T08:00:00Z"}}`:                false,
	} {
		o, err := ParseOptions([]byte(raw))
		if (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
		if ok && o.MFAMethods.since() == nil {
			t.Errorf("%s: since not parsed", raw)
		}
	}
}

// Guests, users without a mailbox and users deleted since the run began.
func TestGraphContainmentOnTenantsAsTheyAre(t *testing.T) {
	ctx := context.Background()
	all := []Name{BlockSignIn, RemoveMFAMethods, RevokeAppConsents}
	t.Run("no mailbox: the Graph steps act all the same", func(t *testing.T) {
		r, sim, d := simRunnerWith(t, tenantsim.SeedNoMailbox)
		for _, step := range all {
			if out := r.Run(ctx, step, Input{Target: Target{ID: d.UserID, UPN: d.UPN}}); out.Status != runs.StepSucceeded {
				t.Errorf("%s: %+v", step, out)
			}
		}
		if u, _ := sim.User(d.UserID); u.AccountEnabled || len(sim.AuthMethods(d.UserID)) != 0 || len(sim.PermissionGrants(d.UserID)) != 0 {
			t.Errorf("not contained: %+v", u)
		}
	})
	t.Run("a guest is blocked here and loses the methods registered here", func(t *testing.T) {
		r, sim, _ := simRunner(t)
		guest := tenantsim.User{ID: "abababab-abab-4bab-8bab-abababababab", UserPrincipalName: "megan.b_fabrikam.example#EXT#@contoso.onmicrosoft.example",
			DisplayName: "Megan (Fabrikam)", AccountEnabled: true, HomeDirectoryPassword: true}
		sim.AddUser(guest)
		sim.AddAuthMethod(guest.ID, tenantsim.AuthMethod{Type: "phone", Props: map[string]any{"phoneNumber": "+49 1701234567"}})
		target := Target{ID: guest.ID, UPN: guest.UserPrincipalName}
		want := map[Name]runs.StepStatus{BlockSignIn: runs.StepSucceeded, RemoveMFAMethods: runs.StepSucceeded, RevokeAppConsents: runs.StepNoChange}
		for _, step := range all {
			if out := r.Run(ctx, step, Input{Target: target}); out.Status != want[step] {
				t.Errorf("%s: %+v, want %s", step, out, want[step])
			}
		}
		if u, _ := sim.User(guest.ID); u.AccountEnabled || len(sim.AuthMethods(guest.ID)) != 0 {
			t.Errorf("guest not contained: %+v", u)
		}
	})
	t.Run("a user deleted since the run began fails for good", func(t *testing.T) {
		r, _, _ := simRunner(t)
		gone := Target{ID: "cdcdcdcd-cdcd-4dcd-8dcd-cdcdcdcdcdcd", UPN: "gone@contoso.example"}
		for _, step := range []Name{BlockSignIn, RemoveMFAMethods} {
			out := r.Run(ctx, step, Input{Target: gone})
			if out.Status != runs.StepFailed || out.Transient || out.Error == nil || out.Error.Code != "Request_ResourceNotFound" {
				t.Errorf("%s: %+v", step, out)
			}
		}
		// Grants are listed by filter: a deleted user simply has none.
		if out := r.Run(ctx, RevokeAppConsents, Input{Target: gone}); out.Status != runs.StepNoChange {
			t.Errorf("revoke-app-consents: %+v", out)
		}
	})
}

// Application names are a courtesy: without Application.Read.All the consent is revoked all
// the same and the record names the object ids.
func TestRevokeAppConsentsWithoutApplicationNames(t *testing.T) {
	r, sim, demo := simRunner(t)
	sim.FailNext(10, "/servicePrincipals/", http.StatusForbidden)
	out := r.Run(context.Background(), RevokeAppConsents, Input{Target: Target{ID: demo.UserID, UPN: demo.UPN}})
	if out.Status != runs.StepSucceeded || len(out.Changes) != 1 || !strings.Contains(out.Message, "Application.Read.All") ||
		!strings.HasPrefix(out.Changes[0].Target, "app "+demo.IllicitAppID+" on ") {
		t.Fatalf("outcome %+v", out)
	}
	if len(sim.PermissionGrants(demo.UserID)) != 0 {
		t.Fatal("grant not revoked")
	}
}

// mutexLocker is one process's tenant-wide lock, for two runs in one test.
type mutexLocker struct{ mu sync.Mutex }

func (l *mutexLocker) Hold(context.Context, string, string, time.Duration) (runs.Lease, error) {
	l.mu.Lock()
	return &mutexLease{release: l.mu.Unlock}, nil
}

type mutexLease struct {
	once    sync.Once
	release func()
}

func (*mutexLease) Held() error { return nil }
func (l *mutexLease) Release()  { l.once.Do(l.release) }

// losingLocker grants the lock, which is then lost before the step acts (not renewed in
// time, or taken over after it expired).
type losingLocker struct{}

func (losingLocker) Hold(context.Context, string, string, time.Duration) (runs.Lease, error) {
	return lostLease{}, nil
}

type lostLease struct{}

func (lostLease) Held() error { return fmt.Errorf("test: %w", runs.ErrLockLost) }
func (lostLease) Release()    {}

// TestGlobalAdministratorStepsChangeNothingOnceTheLockIsLost: remove-admin-roles and
// block-sign-in ask the lease before each change; a lost lock removes and blocks nothing,
// and the step is tried again.
func TestGlobalAdministratorStepsChangeNothingOnceTheLockIsLost(t *testing.T) {
	ctx := context.Background()
	r, sim, demo := simRunner(t)
	r.Locker = losingLocker{}
	megan := Target{ID: demo.GlobalAdminID, UPN: demo.GlobalAdminUPN}
	for _, step := range []Name{RemoveAdminRoles, BlockSignIn} {
		out := r.Run(ctx, step, Input{Target: megan, RunID: "r1"})
		if out.Status != runs.StepFailed || !out.Transient || out.Error == nil || out.Error.Code != "lock_lost" || len(out.Changes) != 0 {
			t.Fatalf("%s with a lost lock: %+v", step, out)
		}
	}
	if n := tenantWrites(sim); n != 0 {
		t.Fatalf("%d tenant writes after the lock was lost", n)
	}
}

// Blocking a Global Administrator's sign-in takes the tenant-wide lock: without it nothing
// happens, and two runs on the last two Global Administrators leave one of them enabled.
func TestBlockSignInOfGlobalAdministratorsTakesTheLock(t *testing.T) {
	ctx := context.Background()
	r, sim, demo := simRunner(t)
	r.Locker = refusingLocker{}
	megan := Target{ID: demo.GlobalAdminID, UPN: demo.GlobalAdminUPN}
	out := r.Run(ctx, BlockSignIn, Input{Target: megan, RunID: "r1"})
	if out.Status != runs.StepFailed || !out.Transient || out.Error.Code != "lock_busy" || tenantWrites(sim) != 0 {
		t.Fatalf("without the lock: %+v", out)
	}
	// An account without the role needs no lock.
	if out := r.Run(ctx, BlockSignIn, Input{Target: Target{ID: demo.ManagerID, UPN: demo.ManagerUPN}}); out.Status != runs.StepSucceeded {
		t.Fatalf("no role: %+v", out)
	}

	r.Locker = &mutexLocker{}
	var wg sync.WaitGroup
	results := make([]Outcome, 2)
	for i, target := range []Target{megan, {ID: demo.BreakGlassID, UPN: demo.BreakGlassUPN}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.Run(ctx, BlockSignIn, Input{Target: target, RunID: fmt.Sprintf("r%d", i)})
		}()
	}
	wg.Wait()
	statuses := []runs.StepStatus{results[0].Status, results[1].Status}
	slices.Sort(statuses)
	if !slices.Equal(statuses, []runs.StepStatus{runs.StepActionRequired, runs.StepSucceeded}) {
		t.Fatalf("two runs on the last two Global Administrators: %+v", results)
	}
	a, _ := sim.User(demo.GlobalAdminID)
	b, _ := sim.User(demo.BreakGlassID)
	if a.AccountEnabled == b.AccountEnabled {
		t.Fatalf("Global Administrators enabled: %v and %v, want exactly one", a.AccountEnabled, b.AccountEnabled)
	}
}
