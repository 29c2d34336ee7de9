package tenantsim

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// tenant is the in-memory directory and Exchange organisation. Every access holds Sim.mu.
type tenant struct {
	domains []string

	users     []*User // in creation order
	mailboxes map[string]*mailbox
	resets    map[string][]PasswordReset
	revoked   map[string]int

	roleDefs    []RoleDefinition
	assignments []*RoleAssignment
	eligible    []*RoleSchedule
	activePIM   []*RoleSchedule

	groups  []*Group
	members map[string][]string // group id -> user ids

	groupEligible []*GroupEligibility // PIM for Groups eligible memberships

	servicePrincipals []string // object ids; they hold roles but are neither users nor groups

	authMethods   map[string][]*AuthMethod // user id -> registered methods (password aside)
	defaultMethod map[string]string        // user id -> id of the default MFA method
	grants        []*PermissionGrant       // oauth2PermissionGrants
	appRoles      []*AppRoleAssignment     // appRoleAssignments (graph_approles.go)
	spNames       map[string]servicePrincipalNames
	devices       []*Device // graph_devices.go

	// pimUnlicensed: the tenant has neither Entra ID P2 nor ID Governance, so every PIM
	// schedule call answers 400 AadPremiumLicenseRequired.
	pimUnlicensed bool

	blocked []*BlockedSender

	roleGroups []*roleGroup // Exchange admin role groups (exchange_containment.go)
	// orgEwsEnabled is Get-OrganizationConfig's EwsEnabled: nil (not configured) or false
	// (EWS blocked for every mailbox).
	orgEwsEnabled *bool
	exoGUIDs      map[string]string // user id -> the recipient's Exchange GUID
	audit         auditState        // sign-ins, audit records, sent mail (auditlog.go)

	canResetAdmins bool
	nextRule       uint64
	notFoundStatus int // HTTP status of Exchange's ManagementObjectNotFoundException
	// delegateLag is how many Get-Mailbox reads after a GrantSendOnBehalfTo change still
	// show the list as it was (LagDelegateReads): replication between Exchange's servers.
	delegateLag int
	cmdletHooks []cmdletHook
	// hookRunning is held while due hooks run, so a request that comes in meanwhile
	// waits for the change the hook makes.
	hookRunning sync.Mutex
}

// mailbox is a user's mailbox with its inbox rules (in priority order).
type mailbox struct {
	Mailbox
	rules []*InboxRule
	mailboxAccess
	// ProxyAddresses are the mailbox's other SMTP addresses (EmailAddresses shows them as
	// "smtp:<address>" after the primary "SMTP:<address>"); AddProxyAddress sets them.
	ProxyAddresses []string
}

func newTenant() *tenant {
	return &tenant{
		mailboxes:      map[string]*mailbox{},
		resets:         map[string][]PasswordReset{},
		revoked:        map[string]int{},
		members:        map[string][]string{},
		roleGroups:     builtInRoleGroups(),
		exoGUIDs:       map[string]string{},
		authMethods:    map[string][]*AuthMethod{},
		defaultMethod:  map[string]string{},
		spNames:        map[string]servicePrincipalNames{},
		canResetAdmins: true,
		notFoundStatus: http.StatusNotFound,
		// Real RuleIdentity values are large decimal numbers.
		nextRule: 17354722591129731073,
	}
}

// user finds a user by object id or UPN (case-insensitive, like Graph).
func (t *tenant) user(idOrUPN string) *User {
	for _, u := range t.users {
		if strings.EqualFold(u.ID, idOrUPN) || strings.EqualFold(u.UserPrincipalName, idOrUPN) {
			return u
		}
	}
	return nil
}

func (t *tenant) group(id string) *Group {
	for _, g := range t.groups {
		if strings.EqualFold(g.ID, id) {
			return g
		}
	}
	return nil
}

func (t *tenant) roleDef(id string) (RoleDefinition, bool) {
	for _, d := range t.roleDefs {
		if strings.EqualFold(d.ID, id) || strings.EqualFold(d.TemplateID, id) {
			return d, true
		}
	}
	return RoleDefinition{}, false
}

// principalExists reports whether id names a user, a group or a service principal.
func (t *tenant) principalExists(id string) bool {
	return t.user(id) != nil || t.group(id) != nil ||
		slices.ContainsFunc(t.servicePrincipals, func(sp string) bool { return strings.EqualFold(sp, id) })
}

// isPrivileged reports whether a password reset of the user needs Privileged
// Authentication Administrator: the user holds an active role directly, through PIM, or
// through a role-assignable group.
func (t *tenant) isPrivileged(userID string) bool {
	for _, a := range t.assignments {
		if strings.EqualFold(a.PrincipalID, userID) {
			return true
		}
		if g := t.group(a.PrincipalID); g != nil && slices.ContainsFunc(t.members[g.ID], func(m string) bool { return strings.EqualFold(m, userID) }) {
			return true
		}
	}
	return false
}

// mailboxByIdentity resolves an Exchange identity: UPN, primary address, alias, name or
// ExternalDirectoryObjectId. It returns every match so callers can report ambiguity.
func (t *tenant) mailboxByIdentity(identity string) []*mailbox {
	var out []*mailbox
	for _, u := range t.users {
		mb := t.mailboxes[u.ID]
		if mb == nil {
			continue
		}
		for _, name := range []string{mb.UserPrincipalName, mb.PrimarySmtpAddress, mb.Alias, mb.Name, mb.Identity, mb.ExternalDirectoryObjectID} {
			if name != "" && strings.EqualFold(name, identity) {
				out = append(out, mb)
				break
			}
		}
	}
	return out
}

func (t *tenant) isAcceptedDomain(name string) bool {
	return slices.ContainsFunc(t.domains, func(d string) bool { return strings.EqualFold(d, name) })
}

func (t *tenant) blockedSender(address string) (int, *BlockedSender) {
	for i, b := range t.blocked {
		if strings.EqualFold(b.SenderAddress, address) {
			return i, b
		}
	}
	return -1, nil
}

// findSchedule finds a schedule by principal, role and scope.
func findSchedule(list []*RoleSchedule, principalID, roleDefinitionID, scope string) (int, *RoleSchedule) {
	for i, sc := range list {
		if strings.EqualFold(sc.PrincipalID, principalID) && strings.EqualFold(sc.RoleDefinitionID, roleDefinitionID) && sc.DirectoryScopeID == scope {
			return i, sc
		}
	}
	return -1, nil
}

func (t *tenant) assignmentIndex(id string) int {
	return slices.IndexFunc(t.assignments, func(a *RoleAssignment) bool { return strings.EqualFold(a.ID, id) })
}

func (t *tenant) removeAssignment(id string) {
	if i := t.assignmentIndex(id); i >= 0 {
		t.assignments = slices.Delete(t.assignments, i, i+1)
	}
}

// newActiveSchedule creates a PIM active schedule and the role assignment it produces.
func (t *tenant) newActiveSchedule(principalID, roleDefinitionID, scope string, start, end time.Time) *RoleSchedule {
	sc := &RoleSchedule{
		ID: newGUID(), PrincipalID: principalID, RoleDefinitionID: roleDefinitionID, DirectoryScopeID: scope,
		MemberType: "Direct", Status: "Provisioned", AssignmentType: "Assigned", Start: start, End: end,
	}
	a := &RoleAssignment{ID: newGUID(), PrincipalID: principalID, RoleDefinitionID: roleDefinitionID, DirectoryScopeID: scope, ScheduleID: sc.ID}
	sc.AssignmentID = a.ID
	t.activePIM = append(t.activePIM, sc)
	t.assignments = append(t.assignments, a)
	return sc
}

func (t *tenant) newEligibleSchedule(principalID, roleDefinitionID, scope string, start, end time.Time) *RoleSchedule {
	sc := &RoleSchedule{
		ID: newGUID(), PrincipalID: principalID, RoleDefinitionID: roleDefinitionID, DirectoryScopeID: scope,
		MemberType: "Direct", Status: "Provisioned", Start: start, End: end,
	}
	t.eligible = append(t.eligible, sc)
	return sc
}

// renumberRules keeps priorities 1..n in list order after a change.
func (mb *mailbox) renumberRules() {
	for i, r := range mb.rules {
		r.Priority = i + 1
	}
}

func defaultScope(scope string) string {
	if scope == "" {
		return "/"
	}
	return scope
}
