package tenantsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The Exchange side of the containment steps: client access protocols (Get-/Set-CASMailbox),
// admin role groups and their members, and mailbox delegates (FullAccess, SendAs,
// SendOnBehalf). Shapes and where they were read: docs/simulator-fidelity.md, "Exchange:
// protocols, role groups, delegates".

// MailboxPermission is one entry of Get-MailboxPermission. User is the trustee as Exchange
// shows it: a user's UPN, or a Windows principal ("NT AUTHORITY\SELF", "<forest>\Domain Admins").
type MailboxPermission struct {
	User            string
	AccessRights    []string
	Deny            bool
	IsInherited     bool
	InheritanceType string
}

// RecipientPermission is one entry of Get-RecipientPermission (SendAs).
type RecipientPermission struct {
	Trustee           string
	AccessControlType string // Allow or Deny
	AccessRights      []string
	IsInherited       bool
}

// mailboxAccess is who and what can reach a mailbox besides its owner's password.
type mailboxAccess struct {
	protocols    map[string]*bool // nil value: null, the organisation's setting
	fullAccess   []*MailboxPermission
	sendAs       []*RecipientPermission
	sendOnBehalf []string // user ids
	// staleSendOnBehalf is what the next staleReads Get-Mailbox reads show instead of
	// sendOnBehalf, after a change while the tenant plays a replication lag.
	staleSendOnBehalf []string
	staleReads        int
}

// mailProtocols are the Get-CASMailbox properties the simulator serves and Set-CASMailbox
// takes. SmtpClientAuthenticationDisabled is inverted: true is off.
var mailProtocols = []string{"OWAEnabled", "MAPIEnabled", "EwsEnabled", "ActiveSyncEnabled", "PopEnabled", "ImapEnabled",
	"OutlookMobileEnabled", "MacOutlookEnabled", "SmtpClientAuthenticationDisabled"}

// nullableProtocols are the settings Set-CASMailbox takes $null for (the cmdlet page lists
// "blank ($null)" only for SmtpClientAuthenticationDisabled).
var nullableProtocols = []string{"SmtpClientAuthenticationDisabled"}

// MailProtocolOff reports whether a Get-CASMailbox value turns the setting off: false for
// the *Enabled settings, true for SmtpClientAuthenticationDisabled. Null (nil) is the
// organisation's setting and counts as on.
func MailProtocolOff(name string, v *bool) bool {
	if v == nil {
		return false
	}
	if name == "SmtpClientAuthenticationDisabled" {
		return *v
	}
	return !*v
}

// simForest is the made-up on-premises-style forest name Exchange Online shows in front of
// its own security principals (real ones look like "NAMPR01A001").
const simForest = "SIMPR01A001"

// newMailboxAccess is a new mailbox as Exchange Online creates it: every protocol on
// (EwsEnabled and SmtpClientAuthenticationDisabled null: they follow the organisation), NT AUTHORITY\SELF with FullAccess and
// SendAs, and the inherited entries of the service's own principals (some of them Deny).
func newMailboxAccess() mailboxAccess {
	on := func() *bool { v := true; return &v }
	a := mailboxAccess{protocols: map[string]*bool{}}
	for _, p := range mailProtocols {
		a.protocols[p] = on()
	}
	a.protocols["EwsEnabled"] = nil
	a.protocols["SmtpClientAuthenticationDisabled"] = nil
	a.fullAccess = []*MailboxPermission{
		{User: `NT AUTHORITY\SELF`, AccessRights: []string{"FullAccess", "ReadPermission"}, InheritanceType: "All"},
		{User: simForest + `\Administrator`, AccessRights: []string{"FullAccess"}, Deny: true, IsInherited: true, InheritanceType: "All"},
		{User: simForest + `\Domain Admins`, AccessRights: []string{"FullAccess"}, Deny: true, IsInherited: true, InheritanceType: "All"},
		{User: simForest + `\Enterprise Admins`, AccessRights: []string{"FullAccess"}, Deny: true, IsInherited: true, InheritanceType: "All"},
		{User: simForest + `\Organization Management`, AccessRights: []string{"FullAccess"}, Deny: true, IsInherited: true, InheritanceType: "All"},
		{User: `NT AUTHORITY\SYSTEM`, AccessRights: []string{"FullAccess"}, IsInherited: true, InheritanceType: "All"},
		{User: `NT AUTHORITY\NETWORK SERVICE`, AccessRights: []string{"ReadPermission"}, IsInherited: true, InheritanceType: "All"},
		{User: simForest + `\Exchange Servers`, AccessRights: []string{"FullAccess", "ReadPermission"}, IsInherited: true, InheritanceType: "All"},
		{User: simForest + `\Exchange Trusted Subsystem`, AccessRights: []string{"FullAccess"}, IsInherited: true, InheritanceType: "All"},
	}
	a.sendAs = []*RecipientPermission{{Trustee: `NT AUTHORITY\SELF`, AccessControlType: "Allow", AccessRights: []string{"SendAs"}}}
	return a
}

// roleGroup is an Exchange admin role group; members are user ids.
type roleGroup struct {
	Name        string
	Description string
	GUID        string
	members     []string
	// entraLinked marks a group whose membership follows an Entra role or is Microsoft's
	// own (TenantAdmins_*, RIM-MailboxAdmins*): Get-RoleGroup lists it, but its members
	// cannot be read or changed in Exchange (entraLinkedRefusal).
	entraLinked bool
}

// entraLinkedRefusal is the answer to Get-/Add-/Remove-RoleGroupMember for an Entra-linked
// group. That these groups "can't be managed in Exchange Online" is documented ("Permissions
// in Exchange Online", Company Administrators / TenantAdmins_); the status, exception type and
// text of the refusal are a **guess** (no captured answer; docs/simulator-fidelity.md).
func entraLinkedRefusal(g *roleGroup) *exoError {
	e := exoCmdletError(http.StatusBadRequest, "BadRequest", "Microsoft.Exchange.Configuration.Tasks.TaskException",
		"The role group \""+g.Name+"\" can't be read or changed in Exchange Online: its membership is managed by Microsoft Entra ID.")
	e.raisedByCmdlet = true
	return &e
}

// builtInRoleGroups are role groups every Exchange Online organisation has (the
// "Permissions in Exchange Online" page), empty here; GUIDs are made up per tenant.
func builtInRoleGroups() []*roleGroup {
	var out []*roleGroup
	for _, g := range [][2]string{
		{"Organization Management", "Members of this management role group have permissions to manage Exchange objects and their properties in the Exchange organization."},
		{"Recipient Management", "Members of this management role group have rights to create, manage, and remove Exchange recipient objects in the Exchange organization."},
		{"View-Only Organization Management", "Members of this management role group can view recipient and configuration objects and their properties in the Exchange organization."},
		{"Discovery Management", "Members of this management role group can perform searches of mailboxes in the Exchange organization for data that meets specific criteria."},
		{"Compliance Management", "This role group will allow a specified user, responsible for compliance, to properly configure and manage compliance settings within Exchange."},
		{"Records Management", "Members of this management role group can configure compliance features such as retention policy tags, message classifications, and transport rules."},
		{"Help Desk", "Members of this management role group can view and manage the configuration for individual recipients and view recipients in an Exchange organization."},
		{"Hygiene Management", "Members of this management role group can manage Exchange anti-spam features and grant permissions for antivirus products to integrate with Exchange."},
		{"Security Administrator", "Membership in this role group is synchronized across services and managed centrally."},
		{"Security Reader", "Membership in this role group is synchronized across services and managed centrally."},
	} {
		out = append(out, &roleGroup{Name: g[0], Description: g[1], GUID: newGUID()})
	}
	return out
}

func (t *tenant) roleGroup(identity string) *roleGroup {
	for _, g := range t.roleGroups {
		if strings.EqualFold(g.Name, identity) || strings.EqualFold(g.GUID, identity) {
			return g
		}
	}
	return nil
}

// exoGUID is the recipient's Exchange object GUID: not the Entra object id, as in Exchange
// Online, so a client that confuses the two is caught. Held under s.mu.
func (t *tenant) exoGUID(userID string) string {
	g, ok := t.exoGUIDs[userID]
	if !ok {
		g = newGUID()
		t.exoGUIDs[userID] = g
	}
	return g
}

// resolveRecipient finds the user an Exchange identity names: object id, UPN, Exchange
// GUID, or the mailbox's alias, name or primary address. Held under s.mu.
func (t *tenant) resolveRecipient(identity string) *User {
	identity = strings.TrimSpace(identity)
	if identity == "" {
		return nil
	}
	if u := t.user(identity); u != nil {
		return u
	}
	for _, u := range t.users {
		if strings.EqualFold(t.exoGUID(u.ID), identity) {
			return u
		}
		if mb := t.mailboxes[u.ID]; mb != nil {
			for _, name := range []string{mb.Alias, mb.Name, mb.PrimarySmtpAddress} {
				if name != "" && strings.EqualFold(name, identity) {
					return u
				}
			}
		}
	}
	return nil
}

// recipientName is how Exchange names a recipient in lists such as GrantSendOnBehalfTo
// and role group Members: its Name (the alias for the users the simulator creates).
func (t *tenant) recipientName(u *User) string {
	if mb := t.mailboxes[u.ID]; mb != nil {
		return mb.Name
	}
	alias, _, _ := strings.Cut(u.UserPrincipalName, "@")
	return alias
}

func (t *tenant) recipientNotFound(identity string) *exoError {
	e := exoCmdletError(t.notFoundStatus, "NotFound", managementObjectNotFound,
		"The operation couldn't be performed because object '"+identity+"' couldn't be found on '"+exchangeServer+"'.")
	if e.status == http.StatusBadRequest {
		e.code = "BadRequest"
	}
	e.raisedByCmdlet = true
	return &e
}

// resultSize reads ResultSize: "Unlimited", a positive number, or absent (the cmdlets'
// default of 1000).
func resultSize(p exoParams) (int, *exoError) {
	raw, ok := p.raw["resultsize"]
	if !ok {
		return 1000, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.EqualFold(s, "Unlimited") {
			return -1, nil
		}
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n, nil
		}
	}
	var n int
	if json.Unmarshal(raw, &n) == nil && n > 0 {
		return n, nil
	}
	return 0, exoInvalidArgument("Cannot process argument transformation on parameter 'ResultSize'. Cannot convert value \"" + string(raw) + "\" to type \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\".")
}

func limit(items []any, n int) []any {
	if n >= 0 && len(items) > n {
		return items[:n]
	}
	return items
}

// --- Get-CASMailbox / Set-CASMailbox

func (t *tenant) casMailboxItem(mb *mailbox) map[string]any {
	item := map[string]any{
		"Identity": mb.Identity, "Name": mb.Name, "DisplayName": mb.Name, "PrimarySmtpAddress": mb.PrimarySmtpAddress,
		"ExternalDirectoryObjectId": mb.ExternalDirectoryObjectID, "Guid": t.exoGUID(mb.ExternalDirectoryObjectID),
		"ECPEnabled": true, "OwaMailboxPolicy": "OwaMailboxPolicy-Default", "ActiveSyncMailboxPolicy": "Default",
		"ActiveSyncSuppressReadReceipt": false, "HasActiveSyncDevicePartnership": false, "ImapUseProtocolDefaults": true,
		"PopUseProtocolDefaults": true, "MAPIBlockOutlookRpcHttp": false,
	}
	for _, p := range mailProtocols {
		if v := mb.protocols[p]; v != nil {
			item[p] = *v
		} else {
			item[p] = nil
		}
	}
	return item
}

func (s *Sim) getCASMailbox(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity", "ResultSize"); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.tenant.resolveMailbox(identity)
	if err != nil {
		return nil, err
	}
	return []any{s.tenant.casMailboxItem(mb)}, nil
}

func (s *Sim) setCASMailbox(p exoParams) ([]any, *exoError) {
	if err := p.only(append([]string{"Identity", "Confirm"}, mailProtocols...)...); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	set := map[string]*bool{}
	for _, name := range mailProtocols {
		raw, ok := p.raw[strings.ToLower(name)]
		if !ok {
			continue
		}
		if strings.TrimSpace(string(raw)) == "null" {
			// Only SmtpClientAuthenticationDisabled is documented to take $null; the others,
			// EwsEnabled included (shown null, documented $true/$false), are refused (a guess
			// at the binding error PowerShell gives a [bool] parameter).
			if !slices.Contains(nullableProtocols, name) {
				return nil, exoInvalidArgument("Cannot process argument transformation on parameter '" + name + "'. Cannot convert value \"\" to type \"System.Boolean\".")
			}
			set[name] = nil
			continue
		}
		v, _, err := p.boolean(name)
		if err != nil {
			return nil, err
		}
		set[name] = &v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.tenant.resolveMailbox(identity)
	if err != nil {
		return nil, err
	}
	for name, v := range set {
		mb.protocols[name] = v
	}
	return nil, nil
}

// --- Get-OrganizationConfig

// getOrganizationConfig answers the organisation's settings; only EwsEnabled is modelled
// (null unless SetOrganizationEwsEnabled set it), with a few properties for shape.
func (s *Sim) getOrganizationConfig(p exoParams) ([]any, *exoError) {
	if err := p.only(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := ""
	for _, d := range s.tenant.domains {
		if name == "" || strings.HasSuffix(strings.ToLower(d), ".onmicrosoft.com") {
			name = d
		}
	}
	item := map[string]any{"Name": name, "Identity": name, "EwsEnabled": nil,
		"EwsApplicationAccessPolicy": nil, "OAuth2ClientProfileEnabled": true, "AuditDisabled": false}
	if v := s.tenant.orgEwsEnabled; v != nil {
		item["EwsEnabled"] = *v
	}
	return []any{item}, nil
}

// SetOrganizationEwsEnabled sets the organisation's EwsEnabled (Set-OrganizationConfig):
// nil is not configured, false blocks EWS for every mailbox.
func (s *Sim) SetOrganizationEwsEnabled(v *bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v != nil {
		b := *v
		v = &b
	}
	s.tenant.orgEwsEnabled = v
}

// --- role groups

func (t *tenant) roleGroupItem(g *roleGroup) map[string]any {
	members := []string{}
	for _, id := range g.members {
		if u := t.user(id); u != nil {
			members = append(members, t.recipientName(u))
		}
	}
	return map[string]any{
		"Identity": g.Name, "Name": g.Name, "DisplayName": g.Name, "Guid": g.GUID, "ExchangeObjectId": g.GUID,
		"Description": g.Description, "Members": members, "ManagedBy": []string{}, "RoleGroupType": "Standard",
		"Capabilities": []string{}, "IsValid": true, "ObjectState": "Unchanged",
	}
}

// roleGroupMemberItem is a Get-RoleGroupMember row: the recipient as Get-Recipient answers
// it, with the WindowsLiveID the member listing carries and without the mailbox's Alias.
func (t *tenant) roleGroupMemberItem(u *User) map[string]any {
	item := t.recipientItem(u)
	delete(item, "Alias")
	item["WindowsLiveID"] = u.UserPrincipalName
	return item
}

func (s *Sim) getRoleGroup(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity", "ResultSize"); err != nil {
		return nil, err
	}
	identity, _, err := p.str("Identity")
	if err != nil {
		return nil, err
	}
	size, err := resultSize(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	var out []any
	for _, g := range t.roleGroups {
		if identity == "" || strings.EqualFold(identity, g.Name) || strings.EqualFold(identity, g.GUID) {
			out = append(out, t.roleGroupItem(g))
		}
	}
	if identity != "" && len(out) == 0 {
		return nil, t.recipientNotFound(identity)
	}
	return limit(out, size), nil
}

func (s *Sim) getRoleGroupMember(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity", "ResultSize"); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	size, err := resultSize(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	g := t.roleGroup(identity)
	if g == nil {
		return nil, t.recipientNotFound(identity)
	}
	if g.entraLinked {
		return nil, entraLinkedRefusal(g)
	}
	var out []any
	for _, id := range g.members {
		if u := t.user(id); u != nil {
			out = append(out, t.roleGroupMemberItem(u))
		}
	}
	return limit(out, size), nil
}

// changeRoleGroupMember is Add-/Remove-RoleGroupMember. An application is never among a
// group's ManagedBy, so without BypassSecurityGroupManagerCheck the real service refuses
// it; so does the simulator.
func (s *Sim) changeRoleGroupMember(p exoParams, add bool) ([]any, *exoError) {
	if err := p.only("Identity", "Member", "BypassSecurityGroupManagerCheck", "Confirm"); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	member, err := p.required("Member")
	if err != nil {
		return nil, err
	}
	bypass, _, err := p.boolean("BypassSecurityGroupManagerCheck")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	g := t.roleGroup(identity)
	if g == nil {
		return nil, t.recipientNotFound(identity)
	}
	if g.entraLinked {
		return nil, entraLinkedRefusal(g)
	}
	if !bypass {
		e := exoCmdletError(http.StatusBadRequest, "BadRequest", "Microsoft.Exchange.Configuration.Tasks.TaskException",
			"You don't have sufficient permissions. This operation can only be performed by a manager of the group.")
		e.raisedByCmdlet = true
		return nil, &e
	}
	u := t.resolveRecipient(member)
	if u == nil {
		return nil, t.recipientNotFound(member)
	}
	i := slices.IndexFunc(g.members, func(id string) bool { return strings.EqualFold(id, u.ID) })
	switch {
	case add && i >= 0:
		e := exoCmdletError(http.StatusBadRequest, "BadRequest", "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException",
			"The recipient \""+member+"\" is already a member of the group \""+g.Name+"\".")
		e.raisedByCmdlet = true
		return nil, &e
	case add:
		g.members = append(g.members, u.ID)
	case i < 0:
		e := exoCmdletError(http.StatusBadRequest, "BadRequest", "Microsoft.Exchange.Management.Tasks.MemberNotFoundException",
			"The recipient \""+member+"\" isn't a member of the group \""+g.Name+"\".")
		e.raisedByCmdlet = true
		return nil, &e
	default:
		g.members = slices.Delete(g.members, i, i+1)
	}
	return nil, nil
}

func (s *Sim) addRoleGroupMember(p exoParams) ([]any, *exoError) {
	return s.changeRoleGroupMember(p, true)
}
func (s *Sim) removeRoleGroupMember(p exoParams) ([]any, *exoError) {
	return s.changeRoleGroupMember(p, false)
}

// --- FullAccess (Get-/Add-/Remove-MailboxPermission)

// stringList reads a parameter that is one string or an array of strings.
func (p exoParams) stringList(name string) ([]string, bool, *exoError) {
	raw, ok := p.raw[strings.ToLower(name)]
	if !ok {
		return nil, false, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, true, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return strings.Split(one, ","), true, nil
	}
	return nil, true, exoInvalidArgument("Cannot process argument transformation on parameter '" + name + "'. A string or an array of strings is expected.")
}

func hasRight(rights []string, right string) bool {
	return slices.ContainsFunc(rights, func(r string) bool { return strings.EqualFold(strings.TrimSpace(r), right) })
}

// trusteeName resolves a User/Trustee parameter to the name entries carry: a user's UPN,
// or the name as sent when an entry already carries it (Windows principals).
func (t *tenant) trusteeName(identity string, names []string) (string, *exoError) {
	for _, n := range names {
		if strings.EqualFold(n, identity) {
			return n, nil
		}
	}
	if u := t.resolveRecipient(identity); u != nil {
		return u.UserPrincipalName, nil
	}
	e := exoCmdletError(t.notFoundStatus, "NotFound", managementObjectNotFound,
		"User or group \""+identity+"\" wasn't found. Please make sure you've typed it correctly.")
	if e.status == http.StatusBadRequest {
		e.code = "BadRequest"
	}
	e.raisedByCmdlet = true
	return "", &e
}

func (s *Sim) getMailboxPermission(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity", "User", "ResultSize"); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	user, _, err := p.str("User")
	if err != nil {
		return nil, err
	}
	size, err := resultSize(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.tenant.resolveMailbox(identity)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, e := range mb.fullAccess {
		if user != "" && !strings.EqualFold(user, e.User) {
			continue
		}
		out = append(out, map[string]any{
			"Identity": mb.Identity, "User": e.User, "AccessRights": slices.Clone(e.AccessRights),
			"IsInherited": e.IsInherited, "Deny": e.Deny, "InheritanceType": e.InheritanceType,
			"IsValid": true, "ObjectState": "Unchanged",
		})
	}
	return limit(out, size), nil
}

func (s *Sim) changeMailboxPermission(p exoParams, add bool) ([]any, *exoError) {
	if err := p.only("Identity", "User", "AccessRights", "InheritanceType", "Deny", "AutoMapping", "Confirm"); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	user, err := p.required("User")
	if err != nil {
		return nil, err
	}
	rights, present, err := p.stringList("AccessRights")
	if err != nil {
		return nil, err
	}
	if !present || len(rights) == 0 {
		return nil, exoInvalidArgument("Cannot process command because of one or more missing mandatory parameters: AccessRights.")
	}
	inheritance, _, err := p.str("InheritanceType")
	if err != nil {
		return nil, err
	}
	if inheritance == "" {
		inheritance = "All"
	}
	deny, _, err := p.boolean("Deny")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	mb, err := t.resolveMailbox(identity)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range mb.fullAccess {
		names = append(names, e.User)
	}
	name, err := t.trusteeName(user, names)
	if err != nil {
		return nil, err
	}
	// Only explicit entries are the mailbox's own: an inherited entry is changed where it
	// is inherited from, never through the mailbox.
	i := slices.IndexFunc(mb.fullAccess, func(e *MailboxPermission) bool {
		return !e.IsInherited && e.Deny == deny && strings.EqualFold(e.User, name) && strings.EqualFold(e.InheritanceType, inheritance)
	})
	if add {
		if i < 0 {
			mb.fullAccess = append(mb.fullAccess, &MailboxPermission{User: name, Deny: deny, InheritanceType: inheritance})
			i = len(mb.fullAccess) - 1
		}
		e := mb.fullAccess[i]
		for _, r := range rights {
			if r = strings.TrimSpace(r); !hasRight(e.AccessRights, r) {
				e.AccessRights = append(e.AccessRights, r)
			}
		}
		return []any{map[string]any{"Identity": mb.Identity, "User": e.User, "AccessRights": slices.Clone(e.AccessRights),
			"IsInherited": false, "Deny": e.Deny, "InheritanceType": e.InheritanceType}}, nil
	}
	// Removing a right nobody holds changes nothing; Exchange only warns.
	if i >= 0 {
		e := mb.fullAccess[i]
		e.AccessRights = slices.DeleteFunc(e.AccessRights, func(r string) bool { return hasRight(rights, r) })
		if len(e.AccessRights) == 0 {
			mb.fullAccess = slices.Delete(mb.fullAccess, i, i+1)
		}
	}
	return nil, nil
}

func (s *Sim) addMailboxPermission(p exoParams) ([]any, *exoError) {
	return s.changeMailboxPermission(p, true)
}
func (s *Sim) removeMailboxPermission(p exoParams) ([]any, *exoError) {
	return s.changeMailboxPermission(p, false)
}

// --- SendAs (Get-/Add-/Remove-RecipientPermission)

func (s *Sim) getRecipientPermission(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity", "Trustee", "AccessRights", "ResultSize"); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	trustee, _, err := p.str("Trustee")
	if err != nil {
		return nil, err
	}
	size, err := resultSize(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, err := s.tenant.resolveMailbox(identity)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, e := range mb.sendAs {
		if trustee != "" && !strings.EqualFold(trustee, e.Trustee) {
			continue
		}
		out = append(out, map[string]any{
			"Identity": mb.Identity, "Trustee": e.Trustee, "AccessControlType": e.AccessControlType,
			"AccessRights": slices.Clone(e.AccessRights), "IsInherited": e.IsInherited, "InheritanceType": "None",
			"IsValid": true, "ObjectState": "Unchanged",
		})
	}
	return limit(out, size), nil
}

func (s *Sim) changeRecipientPermission(p exoParams, add bool) ([]any, *exoError) {
	if err := p.only("Identity", "Trustee", "AccessRights", "Confirm", "Deny"); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	trustee, err := p.required("Trustee")
	if err != nil {
		return nil, err
	}
	rights, present, err := p.stringList("AccessRights")
	if err != nil {
		return nil, err
	}
	if !present || !hasRight(rights, "SendAs") {
		return nil, exoInvalidArgument("Cannot validate argument on parameter 'AccessRights'. The only valid value is SendAs.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	mb, err := t.resolveMailbox(identity)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range mb.sendAs {
		names = append(names, e.Trustee)
	}
	name, err := t.trusteeName(trustee, names)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(mb.sendAs, func(e *RecipientPermission) bool {
		return !e.IsInherited && e.AccessControlType == "Allow" && strings.EqualFold(e.Trustee, name)
	})
	switch {
	case add && i < 0:
		mb.sendAs = append(mb.sendAs, &RecipientPermission{Trustee: name, AccessControlType: "Allow", AccessRights: []string{"SendAs"}})
	case !add && i >= 0:
		mb.sendAs = slices.Delete(mb.sendAs, i, i+1)
	}
	return nil, nil
}

func (s *Sim) addRecipientPermission(p exoParams) ([]any, *exoError) {
	return s.changeRecipientPermission(p, true)
}
func (s *Sim) removeRecipientPermission(p exoParams) ([]any, *exoError) {
	return s.changeRecipientPermission(p, false)
}

// --- SendOnBehalf (Set-Mailbox -GrantSendOnBehalfTo)

// sendOnBehalfNames lists GrantSendOnBehalfTo as Get-Mailbox shows it: the list as it was
// before the latest change while a replication lag is played (each read uses one up). Held
// under s.mu.
func (t *tenant) sendOnBehalfNames(mb *mailbox) []string {
	ids := mb.sendOnBehalf
	if mb.staleReads > 0 {
		ids = mb.staleSendOnBehalf
		mb.staleReads--
	}
	out := []string{}
	for _, id := range ids {
		if u := t.user(id); u != nil {
			out = append(out, t.recipientName(u))
		}
	}
	return out
}

// applySendOnBehalf changes GrantSendOnBehalfTo: JSON null clears it, an array (or one
// string) replaces it, and an object with "add" and/or "remove" (PowerShell's @{add=...;
// remove=...}, typed "#Exchange.GenericHashTable" over REST) changes only those entries.
// Removing a delegate that is not there changes nothing. Held under s.mu.
func (t *tenant) applySendOnBehalf(mb *mailbox, raw json.RawMessage) *exoError {
	before := slices.Clone(mb.sendOnBehalf)
	defer func() {
		if t.delegateLag > 0 && !slices.Equal(before, mb.sendOnBehalf) {
			mb.staleSendOnBehalf, mb.staleReads = before, t.delegateLag
		}
	}()
	resolve := func(names []string) ([]string, *exoError) {
		var ids []string
		for _, n := range names {
			u := t.resolveRecipient(n)
			if u == nil {
				return nil, t.recipientNotFound(n)
			}
			ids = append(ids, u.ID)
		}
		return ids, nil
	}
	values := func(v json.RawMessage) ([]string, bool) {
		var list []string
		if json.Unmarshal(v, &list) == nil {
			return list, true
		}
		var one string
		if json.Unmarshal(v, &one) == nil {
			return []string{one}, true
		}
		return nil, false
	}
	if strings.TrimSpace(string(raw)) == "null" {
		mb.sendOnBehalf = nil
		return nil
	}
	if list, ok := values(raw); ok {
		ids, err := resolve(list)
		if err != nil {
			return err
		}
		mb.sendOnBehalf = ids
		return nil
	}
	var ops map[string]json.RawMessage
	if json.Unmarshal(raw, &ops) != nil {
		return exoInvalidArgument("Cannot process argument transformation on parameter 'GrantSendOnBehalfTo'.")
	}
	// Changed on a copy, so a refused entry leaves the list as it was.
	cur := slices.Clone(mb.sendOnBehalf)
	for k, v := range ops {
		switch strings.ToLower(k) {
		case "@odata.type":
		case "add", "remove":
			list, ok := values(v)
			if !ok {
				return exoInvalidArgument("Cannot process argument transformation on parameter 'GrantSendOnBehalfTo'.")
			}
			ids, err := resolve(list)
			if err != nil {
				return err
			}
			for _, id := range ids {
				i := slices.IndexFunc(cur, func(x string) bool { return strings.EqualFold(x, id) })
				switch {
				case strings.EqualFold(k, "add") && i < 0:
					cur = append(cur, id)
				case strings.EqualFold(k, "remove") && i >= 0:
					cur = slices.Delete(cur, i, i+1)
				}
			}
		default:
			return exoInvalidArgument("Cannot process argument transformation on parameter 'GrantSendOnBehalfTo'. The hash table key '" + k + "' is not valid: use Add or Remove.")
		}
	}
	mb.sendOnBehalf = cur
	return nil
}

// --- seeding and inspection

// SetMailProtocol sets one protocol of the user's mailbox; nil is null (the organisation's
// setting).
func (s *Sim) SetMailProtocol(upn, protocol string, enabled *bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.tenant.mailboxOf(upn); mb != nil {
		mb.protocols[protocol] = enabled
	}
}

// MailProtocols returns the user's protocol settings (nil value: null).
func (s *Sim) MailProtocols(upn string) map[string]*bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.tenant.mailboxOf(upn)
	if mb == nil {
		return nil
	}
	out := map[string]*bool{}
	for k, v := range mb.protocols {
		if v != nil {
			b := *v
			v = &b
		}
		out[k] = v
	}
	return out
}

// GrantFullAccess gives trustee (a user id or UPN) explicit FullAccess on the mailbox of upn.
func (s *Sim) GrantFullAccess(upn, trustee string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	mb, u := t.mailboxOf(upn), t.user(trustee)
	if mb != nil && u != nil {
		mb.fullAccess = append(mb.fullAccess, &MailboxPermission{User: u.UserPrincipalName, AccessRights: []string{"FullAccess"}, InheritanceType: "All"})
	}
}

// AddMailboxPermission adds an entry as given (inherited and Deny entries included).
func (s *Sim) AddMailboxPermission(upn string, e MailboxPermission) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.tenant.mailboxOf(upn); mb != nil {
		e.AccessRights = slices.Clone(e.AccessRights)
		mb.fullAccess = append(mb.fullAccess, &e)
	}
}

// GrantSendAs gives trustee (a user id or UPN) SendAs on the mailbox of upn.
func (s *Sim) GrantSendAs(upn, trustee string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	mb, u := t.mailboxOf(upn), t.user(trustee)
	if mb != nil && u != nil {
		mb.sendAs = append(mb.sendAs, &RecipientPermission{Trustee: u.UserPrincipalName, AccessControlType: "Allow", AccessRights: []string{"SendAs"}})
	}
}

// AddRecipientPermission adds a SendAs entry as given (inherited ones included).
func (s *Sim) AddRecipientPermission(upn string, e RecipientPermission) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.tenant.mailboxOf(upn); mb != nil {
		e.AccessRights = slices.Clone(e.AccessRights)
		mb.sendAs = append(mb.sendAs, &e)
	}
}

// GrantSendOnBehalf adds delegate (a user id or UPN) to the mailbox's GrantSendOnBehalfTo.
func (s *Sim) GrantSendOnBehalf(upn, delegate string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	mb, u := t.mailboxOf(upn), t.user(delegate)
	if mb != nil && u != nil && !slices.Contains(mb.sendOnBehalf, u.ID) {
		mb.sendOnBehalf = append(mb.sendOnBehalf, u.ID)
	}
}

// LagDelegateReads makes every later change of a mailbox's GrantSendOnBehalfTo reach
// Get-Mailbox only after n reads: the next n reads of that mailbox still show the list as it
// was, as a read served by another server before replication would. 0 turns it off.
func (s *Sim) LagDelegateReads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.delegateLag = n
}

// SetRecipientName sets the Name of the user's mailbox, which delegate lists such as
// GrantSendOnBehalfTo and role group Members show: e.g. the user's object id, as Exchange
// Online names many recipients with a GUID.
func (s *Sim) SetRecipientName(user, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.tenant.mailboxOf(user); mb != nil {
		mb.Name = name
	}
}

// MailboxPermissions returns every Get-MailboxPermission entry of the user's mailbox.
func (s *Sim) MailboxPermissions(upn string) []MailboxPermission {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.tenant.mailboxOf(upn)
	if mb == nil {
		return nil
	}
	out := make([]MailboxPermission, len(mb.fullAccess))
	for i, e := range mb.fullAccess {
		out[i] = *e
		out[i].AccessRights = slices.Clone(e.AccessRights)
	}
	return out
}

// RecipientPermissions returns every SendAs entry of the user's mailbox.
func (s *Sim) RecipientPermissions(upn string) []RecipientPermission {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.tenant.mailboxOf(upn)
	if mb == nil {
		return nil
	}
	out := make([]RecipientPermission, len(mb.sendAs))
	for i, e := range mb.sendAs {
		out[i] = *e
		out[i].AccessRights = slices.Clone(e.AccessRights)
	}
	return out
}

// SendOnBehalf returns the user ids in the mailbox's GrantSendOnBehalfTo.
func (s *Sim) SendOnBehalf(upn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.tenant.mailboxOf(upn); mb != nil {
		return slices.Clone(mb.sendOnBehalf)
	}
	return nil
}

// AddRoleGroup adds an admin role group and returns its GUID (the existing one's when a
// group of that name exists).
func (s *Sim) AddRoleGroup(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.tenant.roleGroup(name); g != nil {
		return g.GUID
	}
	g := &roleGroup{Name: name, GUID: newGUID()}
	s.tenant.roleGroups = append(s.tenant.roleGroups, g)
	return g.GUID
}

// AddEntraLinkedRoleGroup adds a role group whose membership Exchange does not manage, as
// TenantAdmins_<n> (Global Administrators) or RIM-MailboxAdmins<hex> are: Get-RoleGroup lists
// it with its members' names, Get-RoleGroupMember and Add-/Remove-RoleGroupMember refuse it
// (entraLinkedRefusal). members are user ids or UPNs. It returns the group's GUID.
func (s *Sim) AddEntraLinkedRoleGroup(name string, members ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	g := &roleGroup{Name: name, GUID: newGUID(), entraLinked: true,
		Description: "Membership in this role group is synchronized across services and managed centrally."}
	for _, m := range members {
		if u := t.user(m); u != nil {
			g.members = append(g.members, u.ID)
		}
	}
	t.roleGroups = append(t.roleGroups, g)
	return g.GUID
}

// AddRoleGroupMember puts a user (id or UPN) into a role group (name or GUID); false when
// either does not exist.
func (s *Sim) AddRoleGroupMember(group, user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	g, u := t.roleGroup(group), t.user(user)
	if g == nil || u == nil {
		return false
	}
	if !slices.ContainsFunc(g.members, func(id string) bool { return strings.EqualFold(id, u.ID) }) {
		g.members = append(g.members, u.ID)
	}
	return true
}

// RoleGroupMembers returns the user ids in a role group (name or GUID).
func (s *Sim) RoleGroupMembers(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.tenant.roleGroup(group); g != nil {
		return slices.Clone(g.members)
	}
	return nil
}

// RoleGroupNames lists the role groups by name, in creation order.
func (s *Sim) RoleGroupNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, g := range s.tenant.roleGroups {
		out = append(out, g.Name)
	}
	return out
}

// --- Get-Recipient

func (t *tenant) recipientItem(u *User) map[string]any {
	item := map[string]any{
		"Identity": t.recipientName(u), "Name": t.recipientName(u), "DisplayName": u.DisplayName,
		"ExternalDirectoryObjectId": u.ID, "Guid": t.exoGUID(u.ID), "ExchangeObjectId": t.exoGUID(u.ID),
		"RecipientType": "User", "RecipientTypeDetails": "User", "PrimarySmtpAddress": "",
	}
	if mb := t.mailboxes[u.ID]; mb != nil {
		item["RecipientType"], item["RecipientTypeDetails"], item["PrimarySmtpAddress"] = "UserMailbox", "UserMailbox", mb.PrimarySmtpAddress
		item["Alias"] = mb.Alias
	}
	return item
}

// getRecipient answers one recipient for an Identity (object id, Exchange GUID, UPN, alias,
// name or address), not-found for an unknown one, and, as the cmdlet page warns, every
// recipient when Identity is absent or null.
func (s *Sim) getRecipient(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity", "ResultSize"); err != nil {
		return nil, err
	}
	identity, _, err := p.str("Identity")
	if err != nil {
		return nil, err
	}
	size, err := resultSize(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if strings.TrimSpace(identity) != "" {
		u := t.resolveRecipient(identity)
		if u == nil {
			return nil, t.recipientNotFound(identity)
		}
		return []any{t.recipientItem(u)}, nil
	}
	var out []any
	for _, u := range t.users {
		out = append(out, t.recipientItem(u))
	}
	return limit(out, size), nil
}
