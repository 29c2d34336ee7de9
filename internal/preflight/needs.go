package preflight

import "github.com/tourniquet/tourniquet/internal/catalog"

// Need is what one step needs of the tenant and the identity, in one place: the preflight
// reads it, and docs/permissions.md says the same (TestPermissionsDocNamesEveryNeed).
type Need struct {
	// Graph lists the Microsoft Graph application permissions (app roles in the token's
	// roles claim) without which the step cannot act: missing one blocks it.
	Graph []string
	// GraphOptional lists permissions the step works without, with less: missing one
	// degrades it, with the reason given.
	GraphOptional map[string]string
	// GraphForOptions lists permissions only an option or a preferred path of the step uses:
	// without one the step does all it does by default, as well (so it stays ready), and a
	// warning check names the permission and what is not available.
	GraphForOptions map[string]string
	// Exchange: the step runs Exchange Online cmdlets (Exchange.ManageAsApp and an Exchange
	// role).
	Exchange bool
	// AdminReset: the step changes accounts that may hold admin roles, which Graph allows an
	// application only with the Privileged Authentication Administrator directory role.
	AdminReset bool
}

// everyStep is what every run needs: the user is read first (resolve, synced, protected).
var everyStep = []string{"User.Read.All"}

// Needs maps each catalog step to its Need (least privilege, per Microsoft's permission
// pages of the calls in internal/graph; docs/permissions.md gives the calls).
var Needs = map[catalog.Name]Need{
	catalog.ResetPassword: {Graph: []string{"User-PasswordProfile.ReadWrite.All"}, AdminReset: true, GraphOptional: lockoutGuardReads},
	catalog.BlockSignIn: {Graph: []string{"User.EnableDisableAccount.All", "RoleManagement.Read.Directory", "GroupMember.Read.All"},
		AdminReset: true, GraphForOptions: map[string]string{
			"Device.ReadWrite.All": "blocked for options.blockSignIn.disableDevices: without it the user's devices are not disabled (the account's block works; the step ends action_required naming the devices)",
		}},
	catalog.RevokeSessions:   {Graph: []string{"User.RevokeSessions.All"}},
	catalog.RemoveForwarding: {Exchange: true},
	catalog.RemoveInboxRules: {Exchange: true, GraphOptional: map[string]string{
		"Domain.Read.All": "without it, when Exchange refuses Get-AcceptedDomain the rules are classified against the user's own domain only"}},
	catalog.RemoveAdminRoles: {Graph: []string{"RoleManagement.ReadWrite.Directory", "GroupMember.ReadWrite.All"},
		GraphOptional: map[string]string{
			"PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup": "without it eligible memberships of role-assignable groups (PIM for Groups) are neither listed nor removed",
		}},
	catalog.RemoveExchangeRoleGroups: {Exchange: true},
	catalog.DisableMailProtocols:     {Exchange: true},
	catalog.RemoveMailboxDelegates:   {Exchange: true},
	catalog.RemoveMFAMethods: {Graph: []string{"UserAuthenticationMethod.ReadWrite.All"}, AdminReset: true,
		GraphOptional: map[string]string{
			"AuditLog.Read.All":             "without it methods the directory gives no creation time for cannot be dated from the audit log (with options.mfaMethods.registeredSince they are kept and the step ends action_required)",
			"RoleManagement.Read.Directory": lockoutGuardReads["RoleManagement.Read.Directory"],
			"GroupMember.Read.All":          lockoutGuardReads["GroupMember.Read.All"],
		}},
	catalog.RevokeAppConsents: {Graph: []string{"DelegatedPermissionGrant.ReadWrite.All"},
		GraphOptional: map[string]string{
			"Application.Read.All": "without it the record names revoked grants by object id, not by application, and app role assignments the user granted as an administrator are not listed (the step ends action_required)",
			"AuditLog.Read.All":    "without it consents the user made as an administrator (tenant-wide grants, app role assignments) are not looked for, and the step ends action_required",
		}},
	catalog.Investigate: {Exchange: true, GraphOptional: map[string]string{
		"AuditLog.Read.All":  "without it the user's sign-ins and directory audit events are not read",
		"Directory.Read.All": "Microsoft's pages for the sign-in and directory-audit listings name it beside AuditLog.Read.All; a tenant may refuse the listings without it",
	}, GraphForOptions: map[string]string{
		"ExchangeMessageTrace.Read.All": "without it sent mail is read with Exchange Online's Get-MessageTraceV2 instead of Microsoft Graph's message trace (which also needs the service principal of Microsoft's message trace app, " +
			"8bd644d1-64a1-4d4b-ae52-2e0cbf64e373, in the tenant)",
	}},
	catalog.UnblockSender: {Exchange: true},
}

// lockoutGuardReads are what the lockout guard reads to count the Global Administrators
// before a run that resets, blocks or strips an account (remediation/lockout.go).
var lockoutGuardReads = map[string]string{
	"RoleManagement.Read.Directory": "without it the lockout guard cannot list the Global Administrators, so every run with this step waits for approval",
	"GroupMember.Read.All":          "without it the lockout guard cannot read the members of groups that hold Global Administrator, so every run with this step waits for approval",
}

// covers lists broader permissions that include a narrower one, as Microsoft's permission
// reference describes them: an identity granted the broader one is not missing the
// narrower.
var covers = map[string][]string{
	"User.Read.All":                          {"User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	"User.EnableDisableAccount.All":          {"User.ReadWrite.All", "Directory.ReadWrite.All"},
	"User.RevokeSessions.All":                {"User.ReadWrite.All", "Directory.ReadWrite.All"},
	"RoleManagement.Read.Directory":          {"RoleManagement.ReadWrite.Directory", "Directory.Read.All", "Directory.ReadWrite.All"},
	"GroupMember.Read.All":                   {"GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	"GroupMember.ReadWrite.All":              {"Group.ReadWrite.All", "Directory.ReadWrite.All"},
	"Domain.Read.All":                        {"Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	"Application.Read.All":                   {"Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	"Directory.Read.All":                     {"Directory.ReadWrite.All"},
	"DelegatedPermissionGrant.ReadWrite.All": {"Directory.ReadWrite.All"},
	"Device.ReadWrite.All":                   {"Directory.ReadWrite.All"},
}

// granted reports whether roles include perm or a permission that covers it.
func granted(roles map[string]bool, perm string) bool {
	if roles[perm] {
		return true
	}
	for _, broader := range covers[perm] {
		if roles[broader] {
			return true
		}
	}
	return false
}

// Well-known ids the checks and their fixes name.
const (
	graphAppID    = "00000003-0000-0000-c000-000000000000"
	exchangeAppID = "00000002-0000-0ff1-ce00-000000000000"

	roleGlobalAdministrator           = "62e90394-69f5-4237-9190-012177145e10"
	rolePrivilegedAuthenticationAdmin = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
	roleExchangeAdministrator         = "29232cdf-9323-42fd-ade2-1d097af3e4de"
)
