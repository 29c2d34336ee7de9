package tenantsim

import (
	"slices"
	"strings"
	"time"
)

// Role template ids of the built-in roles New seeds (the same in every tenant).
const (
	RoleGlobalAdministrator                   = "62e90394-69f5-4237-9190-012177145e10"
	RoleExchangeAdministrator                 = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	RoleUserAdministrator                     = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	RoleSecurityAdministrator                 = "194ae4cb-b126-40b2-bd5b-6091b380977d"
	RolePrivilegedAuthenticationAdministrator = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
	RolePrivilegedRoleAdministrator           = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	RoleHelpdeskAdministrator                 = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
	RoleAuthenticationAdministrator           = "c4e39bd9-1100-4cb0-bf30-bb9a3e6b7cd1"
	RoleGlobalReader                          = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
	RoleSecurityReader                        = "5d6b6bb7-de71-4623-b4af-96380a352509"
)

// builtInRoles are seeded by New (with IsBuiltIn set and TemplateID = ID).
var builtInRoles = []RoleDefinition{
	{ID: RoleGlobalAdministrator, DisplayName: "Global Administrator", Description: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities."},
	{ID: RoleExchangeAdministrator, DisplayName: "Exchange Administrator", Description: "Can manage all aspects of the Exchange product."},
	{ID: RoleUserAdministrator, DisplayName: "User Administrator", Description: "Can manage all aspects of users and groups, including resetting passwords for limited admins."},
	{ID: RoleSecurityAdministrator, DisplayName: "Security Administrator", Description: "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365."},
	{ID: RolePrivilegedAuthenticationAdministrator, DisplayName: "Privileged Authentication Administrator", Description: "Can access to view, set and reset authentication method information for any user (admin or non-admin)."},
	{ID: RolePrivilegedRoleAdministrator, DisplayName: "Privileged Role Administrator", Description: "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management."},
	{ID: RoleHelpdeskAdministrator, DisplayName: "Helpdesk Administrator", Description: "Can reset passwords for non-administrators and Helpdesk Administrators."},
	{ID: RoleAuthenticationAdministrator, DisplayName: "Authentication Administrator", Description: "Can access to view, set and reset authentication method information for any non-admin user."},
	{ID: RoleGlobalReader, DisplayName: "Global Reader", Description: "Can read everything that a Global Administrator can, but not update anything."},
	{ID: RoleSecurityReader, DisplayName: "Security Reader", Description: "Can read security information and reports in Microsoft Entra ID and Office 365."},
}

// AddAcceptedDomain adds an accepted domain; the first one added is the default.
func (s *Sim) AddAcceptedDomain(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tenant.isAcceptedDomain(name) {
		s.tenant.domains = append(s.tenant.domains, name)
	}
}

// AddUser adds (or replaces) a user and gives it a mailbox. An empty ID gets a random one.
func (s *Sim) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if u.ID == "" {
		u.ID = newGUID()
	}
	if old := t.user(u.ID); old != nil {
		*old = u
	} else {
		t.users = append(t.users, &u)
	}
	addr := u.Mail
	if addr == "" {
		addr = u.UserPrincipalName
	}
	alias, _, _ := strings.Cut(u.UserPrincipalName, "@")
	if mb := t.mailboxes[u.ID]; mb != nil {
		mb.UserPrincipalName, mb.PrimarySmtpAddress = u.UserPrincipalName, addr
		return
	}
	t.mailboxes[u.ID] = &mailbox{Mailbox: Mailbox{
		Identity: alias, Name: alias, Alias: alias, UserPrincipalName: u.UserPrincipalName,
		PrimarySmtpAddress: addr, ExternalDirectoryObjectID: u.ID,
	}, mailboxAccess: newMailboxAccess()}
}

// AddProxyAddress gives the user's mailbox another SMTP address it can send as.
func (s *Sim) AddProxyAddress(upn, address string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.tenant.mailboxOf(upn); mb != nil {
		mb.ProxyAddresses = append(mb.ProxyAddresses, address)
	}
}

// SetForwarding sets mailbox-level forwarding. smtp may be given with or without the
// "smtp:" prefix; empty strings clear.
func (s *Sim) SetForwarding(upn string, smtp, address string, deliverAndForward bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.tenant.mailboxOf(upn)
	if mb == nil {
		return
	}
	mb.ForwardingSmtpAddress = normalizeSMTP(smtp)
	mb.ForwardingAddress = address
	mb.DeliverToMailboxAndForward = deliverAndForward
}

// AddInboxRule appends a rule to the user's mailbox and returns its Identity
// ("<upn>\<RuleIdentity>"), or "" when the user has no mailbox.
func (s *Sim) AddInboxRule(upn string, r InboxRule) (identity string) {
	ids := s.AddInboxRules(upn, []InboxRule{r})
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// AddRoleDefinition adds or replaces a role definition (custom roles: IsBuiltIn false).
func (s *Sim) AddRoleDefinition(d RoleDefinition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.ID == "" {
		d.ID = newGUID()
	}
	if d.TemplateID == "" {
		d.TemplateID = d.ID
	}
	t := s.tenant
	for i := range t.roleDefs {
		if strings.EqualFold(t.roleDefs[i].ID, d.ID) {
			t.roleDefs[i] = d
			return
		}
	}
	t.roleDefs = append(t.roleDefs, d)
}

// AssignRole creates an active direct role assignment (scope "" means "/").
func (s *Sim) AssignRole(principalID, roleDefinitionID, scope string) (assignmentID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &RoleAssignment{ID: newGUID(), PrincipalID: principalID, RoleDefinitionID: roleDefinitionID, DirectoryScopeID: defaultScope(scope)}
	s.tenant.assignments = append(s.tenant.assignments, a)
	return a.ID
}

// AddEligibleRole creates a PIM eligibility schedule without expiration.
func (s *Sim) AddEligibleRole(principalID, roleDefinitionID, scope string) (scheduleID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenant.newEligibleSchedule(principalID, roleDefinitionID, defaultScope(scope), time.Now().UTC(), time.Time{}).ID
}

// AddActivePIMRole creates a PIM active assignment schedule ("Assigned") and the role
// assignment it produces.
func (s *Sim) AddActivePIMRole(principalID, roleDefinitionID, scope string) (scheduleID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenant.newActiveSchedule(principalID, roleDefinitionID, defaultScope(scope), time.Now().UTC(), time.Time{}).ID
}

// AddGroup adds or replaces a group. An empty ID gets a random one.
func (s *Sim) AddGroup(g Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.ID == "" {
		g.ID = newGUID()
	}
	if old := s.tenant.group(g.ID); old != nil {
		*old = g
		return
	}
	s.tenant.groups = append(s.tenant.groups, &g)
}

// AddGroupMember adds a user to a group (no-op when already a member).
func (s *Sim) AddGroupMember(groupID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.addMember(groupID, userID)
}

// blockReason is the Reason of a block as Get-BlockedSenderAddress shows it (the form is
// from Microsoft's page of the cmdlet; the counts are made up).
const blockReason = "ExceedingLimitType=External;InternalRecipientCountToday=37;ExternalRecipientCountToday=1204"

// BlockSender puts an address on the Restricted users list.
func (s *Sim) BlockSender(address string, created time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if _, b := t.blockedSender(address); b != nil {
		b.Created, b.Changed = created, created
		return
	}
	t.blocked = append(t.blocked, &BlockedSender{
		SenderAddress: address, Reason: blockReason, Identity: newGUID(), Created: created, Changed: created,
	})
}

// SetPIMLicensed says whether the tenant has Entra ID P2 / ID Governance (default true).
// Without it, the PIM schedule listings and schedule requests answer 400
// AadPremiumLicenseRequired.
func (s *Sim) SetPIMLicensed(licensed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.pimUnlicensed = !licensed
}

// AddServicePrincipal adds a service principal (an application's identity) that can hold
// roles. An empty id gets a random one.
func (s *Sim) AddServicePrincipal(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = newGUID()
	}
	s.tenant.servicePrincipals = append(s.tenant.servicePrincipals, id)
	return id
}

// SetCanResetAdmins says whether the calling identity may reset passwords of admins
// (holds Privileged Authentication Administrator). Default true.
func (s *Sim) SetCanResetAdmins(can bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.canResetAdmins = can
}

func (t *tenant) addMember(groupID, userID string) bool {
	if g := t.group(groupID); g != nil {
		groupID = g.ID
	}
	for _, m := range t.members[groupID] {
		if strings.EqualFold(m, userID) {
			return false
		}
	}
	t.members[groupID] = append(t.members[groupID], userID)
	return true
}

func (t *tenant) mailboxOf(upn string) *mailbox {
	u := t.user(upn)
	if u == nil {
		return nil
	}
	return t.mailboxes[u.ID]
}

// normalizeSMTP gives a forwarding address the "smtp:" prefix Exchange shows.
func normalizeSMTP(addr string) string {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return ""
	}
	if len(addr) > 5 && strings.EqualFold(addr[:5], "smtp:") {
		return "smtp:" + addr[5:]
	}
	return "smtp:" + addr
}

// RemoveIdentityDirectoryRoles takes the managed identity's directory roles away (the
// assign-directory-roles script was never run).
func (s *Sim) RemoveIdentityDirectoryRoles() { s.removeRoleAssignmentsOf(IdentityObjectID) }

// removeRoleAssignmentsOf removes every active role assignment of a principal.
func (s *Sim) removeRoleAssignmentsOf(principalID string) {
	s.removeAssignments(func(a *RoleAssignment) bool { return strings.EqualFold(a.PrincipalID, principalID) })
}

// removeAssignments removes the active role assignments drop matches.
func (s *Sim) removeAssignments(drop func(*RoleAssignment) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.assignments = slices.DeleteFunc(s.tenant.assignments, drop)
}

// RemoveRoleAssignment removes one active role assignment by id.
func (s *Sim) RemoveRoleAssignment(id string) {
	s.removeAssignments(func(a *RoleAssignment) bool { return a.ID == id })
}
