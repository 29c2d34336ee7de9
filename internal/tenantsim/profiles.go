package tenantsim

import (
	"fmt"
	"sort"
	"strings"
)

// A Profile seeds the simulator as one kind of real tenant (a P1 tenant without PIM,
// guests, a user without a mailbox, a mailbox with hundreds of rules...), so tests,
// `cmd/tenantsim -seed NAME` and the bench can play it. Seed returns the tenant's
// compromised user and the other accounts a test needs.
type Profile struct {
	Name        string
	Description string
	Seed        func(*Sim) Demo
}

// profiles lists every tenant profile; docs/simulator-fidelity.md says where each
// behaviour was read.
var profiles = []Profile{
	{Name: "demo", Description: "the idealised demo tenant: Entra ID P2, every kind of admin role, a compromised mailbox", Seed: SeedDemo},
	{Name: "no-mailbox", Description: "the demo tenant whose compromised user has no Exchange licence (no mailbox) but is still restricted", Seed: SeedNoMailbox},
	{Name: "p1", Description: "Entra ID P1 without PIM (schedule listings answer AadPremiumLicenseRequired): direct roles and a role-assignable group", Seed: SeedP1},
	{Name: "entra-free", Description: "the demo tenant on Entra ID Free: sign-in logs answer 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant, PIM is not licensed", Seed: SeedEntraFree},
	{Name: "missing-graph-role", Description: "a deployment whose identity lacks User-PasswordProfile.ReadWrite.All: reset-password is refused 403 Authorization_RequestDenied", Seed: SeedMissingGraphRole},
	{Name: "no-directory-role", Description: "a deployment whose identity holds no directory role: admins' passwords cannot be reset, and Exchange runs no cmdlet", Seed: SeedNoDirectoryRole},
	{Name: "exchange-rbac-missing", Description: "a deployment whose identity has Exchange.ManageAsApp but no Exchange role: every cmdlet answers 403", Seed: SeedExchangeRBACMissing},
	{Name: "audit-standard", Description: "the demo tenant without Audit Premium: mailboxes do not record MailItemsAccessed (what the attacker read is unavailable), Graph's beta sign-in endpoint refuses (interactive sign-ins only)", Seed: SeedAuditStandard},
	{Name: "message-trace-ready", Description: "the demo tenant with Microsoft's message trace app provisioned: Graph's messageTraces answers (no Get-MessageTraceV2 fallback)", Seed: SeedMessageTraceReady},
	{Name: "large-mailbox", Description: "a compromised mailbox with 500 inbox rules (150 suspicious, some hidden), non-ASCII names, descriptions of several KB", Seed: SeedLargeMailbox},
}

// Profiles returns every profile, sorted by name.
func Profiles() []Profile {
	out := append([]Profile(nil), profiles...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ProfileNames lists the profile names, sorted.
func ProfileNames() []string {
	var names []string
	for _, p := range Profiles() {
		names = append(names, p.Name)
	}
	return names
}

// SeedProfile seeds s with the profile called name.
func SeedProfile(s *Sim, name string) (Demo, error) {
	for _, p := range profiles {
		if p.Name == name {
			return p.Seed(s), nil
		}
	}
	return Demo{}, fmt.Errorf("tenantsim: unknown profile %q (profiles: %s)", name, strings.Join(ProfileNames(), ", "))
}

// SeedAuditStandard is the demo tenant as many real ones are: no Audit Premium licence, so
// MailItemsAccessed is not recorded, and Graph's beta sign-in listing refused, so only the
// interactive sign-ins of v1.0 are read.
func SeedAuditStandard(s *Sim) Demo {
	d := SeedDemo(s)
	s.SetMailItemsAccessedAudited(false)
	s.RefuseBetaSignIns(true)
	return d
}

// SeedMessageTraceReady is the demo tenant with the service principal of Microsoft's
// message trace application provisioned: Graph's message trace answers.
func SeedMessageTraceReady(s *Sim) Demo {
	d := SeedDemo(s)
	s.SetMessageTraceServicePrincipal(true)
	return d
}

// SeedMissingGraphRole is the demo tenant, deployed without User-PasswordProfile.ReadWrite.All.
func SeedMissingGraphRole(s *Sim) Demo {
	d := SeedDemo(s)
	var roles []string
	for _, r := range DefaultGraphRoles {
		if r != "User-PasswordProfile.ReadWrite.All" {
			roles = append(roles, r)
		}
	}
	s.SetIdentityRoles("graph", roles)
	return d
}

// SeedNoDirectoryRole is the demo tenant, its identity holding no directory role (the
// assign-directory-roles script was not run): Graph refuses to reset an admin's password
// and Exchange runs no cmdlet.
func SeedNoDirectoryRole(s *Sim) Demo {
	d := SeedDemo(s)
	s.RemoveIdentityDirectoryRoles()
	s.SetCanResetAdmins(false)
	s.SetExchangeRBAC(false)
	return d
}

// SeedExchangeRBACMissing is the demo tenant, its identity holding no Exchange role.
func SeedExchangeRBACMissing(s *Sim) Demo {
	d := SeedDemo(s)
	s.SetExchangeRBAC(false)
	return d
}
