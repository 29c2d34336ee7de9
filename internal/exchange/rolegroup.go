package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// RoleGroup is an Exchange Online admin role group (Get-RoleGroup).
type RoleGroup struct {
	Identity    string
	Name        string
	DisplayName string
	// Guid is the group's Exchange object GUID: the Identity the member cmdlets are sent,
	// because a name may be renamed or contain characters a GUID never does.
	Guid string
	// Members is the Members property as listed, nil when the answer has none at all (then
	// only Get-RoleGroupMember can say who is in the group).
	Members []string
	Raw     map[string]any
}

// MemberIdentity is the Identity Get-RoleGroupMember is sent: the group's GUID as
// Get-RoleGroup listed it, and nothing else. A Get- cmdlet given an Identity that does not
// resolve may answer as if no Identity had been given ("The value $null or a non-existent
// value for the Identity parameter returns all objects", Microsoft's Exchange cmdlet
// pages), so a name that may have changed or never resolved is never sent; ok is false when
// the listing gave no valid GUID.
func (g RoleGroup) MemberIdentity() (id string, ok bool) {
	if guidPattern.MatchString(g.Guid) {
		return g.Guid, true
	}
	return "", false
}

// serviceManagedRoleGroups are the role groups whose membership Exchange Online does not
// manage: the ones tied to a Microsoft Entra role (the "Permissions in Exchange Online" page:
// the Company Administrators group TenantAdmins_<unique value> "can't be managed in Exchange
// Online. You can add members to this role group by adding users to the Global administrator
// role"; HelpdeskAdmins_ likewise; ExchangeServiceAdmins_, ComplianceAdmins_,
// SecurityAdmins_, GlobalReaders_ as public audit scripts map them) and the ones "reserved
// for internal Microsoft use" (RIM-MailboxAdmins<GUID>, ISVMailboxUsers_, the role group
// table of the same page and of the ApplicationImpersonation role page).
var serviceManagedRoleGroups = []struct{ prefix, why string }{
	{"TenantAdmins_", "its membership follows the Entra Global Administrator role"},
	{"ExchangeServiceAdmins_", "its membership follows the Entra Exchange Administrator role"},
	{"HelpdeskAdmins_", "its membership follows the Entra Helpdesk (Password) Administrator role"},
	{"ComplianceAdmins_", "its membership follows the Entra Compliance Administrator role"},
	{"SecurityAdmins_", "its membership follows the Entra Security Administrator role"},
	{"GlobalReaders_", "its membership follows the Entra Global Reader role"},
	{"RIM-MailboxAdmins", "it is reserved for internal Microsoft use"},
	{"ISVMailboxUsers_", "it is reserved for internal Microsoft use"},
}

// ServiceManaged reports whether the group is one whose membership is managed outside
// Exchange Online (an Entra role, or Microsoft itself), and says why. Such a group's members
// commonly cannot be read with Get-RoleGroupMember.
func (g RoleGroup) ServiceManaged() (why string, ok bool) {
	for _, name := range []string{g.Name, g.Identity, g.DisplayName} {
		for _, m := range serviceManagedRoleGroups {
			if len(name) >= len(m.prefix) && strings.EqualFold(name[:len(m.prefix)], m.prefix) {
				return m.why, true
			}
		}
	}
	return "", false
}

// ID is what the member cmdlets take as the group's Identity: its GUID, else its name.
func (g RoleGroup) ID() string {
	if guidPattern.MatchString(g.Guid) {
		return g.Guid
	}
	if g.Name != "" {
		return g.Name
	}
	return g.Identity
}

// Label names the group for a person.
func (g RoleGroup) Label() string {
	for _, s := range []string{g.DisplayName, g.Name, g.Identity, g.Guid} {
		if s != "" {
			return s
		}
	}
	return "(unnamed role group)"
}

type roleGroupWire struct {
	Identity    text
	Name        text
	DisplayName text
	Guid        text
	// ExchangeObjectId is the same GUID under the name newer answers use.
	ExchangeObjectID text `json:"ExchangeObjectId"`
}

// RoleGroupMember is one member of a role group (Get-RoleGroupMember). Exchange answers
// recipient objects: a user without a mailbox is a member as well as one with a mailbox.
type RoleGroupMember struct {
	Identity                  string
	Name                      string
	Guid                      string // the recipient's Exchange GUID, not its Entra object id
	ExternalDirectoryObjectID string // the Entra object id of a user, "" for other kinds
	WindowsLiveID             string // the user's UPN as Exchange knows it
	PrimarySmtpAddress        string
	RecipientType             string
	Raw                       map[string]any
}

type roleGroupMemberWire struct {
	Identity                  text
	Name                      text
	Guid                      text
	ExternalDirectoryObjectID text `json:"ExternalDirectoryObjectId"`
	WindowsLiveID             text
	PrimarySmtpAddress        text
	RecipientType             text
}

// RoleGroups lists every admin role group of the organisation (all pages; ResultSize
// Unlimited, since the cmdlet's own default stops at 1000).
func (c *Client) RoleGroups(ctx context.Context) ([]RoleGroup, error) {
	const cmdlet = "Get-RoleGroup"
	items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, map[string]any{"ResultSize": "Unlimited"})
	if err != nil {
		return nil, fmt.Errorf("exchange.RoleGroups: %w", err)
	}
	groups := make([]RoleGroup, 0, len(items))
	for i, item := range items {
		var w roleGroupWire
		raw, _, err := decodeItem(item, &w)
		if err != nil {
			return nil, fmt.Errorf("exchange.RoleGroups: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
		}
		g := RoleGroup{Identity: string(w.Identity), Name: string(w.Name), DisplayName: string(w.DisplayName), Guid: strings.TrimSpace(string(w.Guid)), Raw: raw}
		if g.Guid == "" {
			g.Guid = strings.TrimSpace(string(w.ExchangeObjectID))
		}
		g.Members = membersOf(item)
		if g.ID() == "" {
			return nil, fmt.Errorf("exchange.RoleGroups: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d has neither Guid, Name nor Identity", i)))
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// membersOf reads the Members property: nil when it is absent or null, else the listed
// members (an empty, non-nil slice for an empty group).
func membersOf(item json.RawMessage) []string {
	var props map[string]json.RawMessage
	if json.Unmarshal(item, &props) != nil {
		return nil
	}
	for k, v := range props {
		if !strings.EqualFold(k, "Members") || strings.TrimSpace(string(v)) == "null" {
			continue
		}
		var l textList
		if json.Unmarshal(v, &l) != nil {
			return nil
		}
		if l == nil {
			return []string{}
		}
		return l
	}
	return nil
}

// RoleGroupMembers lists the members of one role group, named by its GUID only (see
// RoleGroup.MemberIdentity: a Get- cmdlet given an Identity that does not resolve may answer
// every object).
func (c *Client) RoleGroupMembers(ctx context.Context, group string) ([]RoleGroupMember, error) {
	if !guidPattern.MatchString(group) {
		return nil, fmt.Errorf("exchange.RoleGroupMembers: %w: role group %q is not a GUID; Get-RoleGroupMember is asked by the GUID Get-RoleGroup gave, never by name", ErrInvalidArgument, group)
	}
	const cmdlet = "Get-RoleGroupMember"
	items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, map[string]any{"Identity": group, "ResultSize": "Unlimited"})
	if err != nil {
		return nil, fmt.Errorf("exchange.RoleGroupMembers: %w", err)
	}
	members := make([]RoleGroupMember, 0, len(items))
	for i, item := range items {
		var w roleGroupMemberWire
		raw, _, err := decodeItem(item, &w)
		if err != nil {
			return nil, fmt.Errorf("exchange.RoleGroupMembers: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
		}
		members = append(members, RoleGroupMember{
			Identity: string(w.Identity), Name: string(w.Name), Guid: strings.TrimSpace(string(w.Guid)),
			ExternalDirectoryObjectID: strings.TrimSpace(string(w.ExternalDirectoryObjectID)),
			WindowsLiveID:             string(w.WindowsLiveID), PrimarySmtpAddress: string(w.PrimarySmtpAddress),
			RecipientType: string(w.RecipientType), Raw: raw,
		})
	}
	return members, nil
}

// RemoveRoleGroupMember takes member out of group. BypassSecurityGroupManagerCheck lets
// an identity that is not among the group's ManagedBy do it (it needs the Role Management
// role, which Organization Management holds); Confirm:$false is sent as "Confirm": false,
// as the ExchangeOnlineManagement module's REST calls do.
func (c *Client) RemoveRoleGroupMember(ctx context.Context, group, member string) error {
	if err := c.roleGroupMemberCall(ctx, "Remove-RoleGroupMember", group, member); err != nil {
		return fmt.Errorf("exchange.RemoveRoleGroupMember: %w", err)
	}
	return nil
}

// AddRoleGroupMember puts member into group again (restore).
func (c *Client) AddRoleGroupMember(ctx context.Context, group, member string) error {
	if err := c.roleGroupMemberCall(ctx, "Add-RoleGroupMember", group, member); err != nil {
		return fmt.Errorf("exchange.AddRoleGroupMember: %w", err)
	}
	return nil
}

func (c *Client) roleGroupMemberCall(ctx context.Context, cmdlet, group, member string) error {
	if err := validateIdentity("role group", group); err != nil {
		return err
	}
	if err := validateMember(member); err != nil {
		return err
	}
	_, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, map[string]any{
		"Identity": group, "Member": member, "BypassSecurityGroupManagerCheck": true, "Confirm": false,
	})
	return err
}

// validateMember accepts the forms Tourniquet names a member by: a GUID (the member's
// Exchange GUID or Entra object id) or a UPN.
func validateMember(member string) error {
	if guidPattern.MatchString(member) {
		return nil
	}
	if err := validateAddress(member); err != nil {
		return fmt.Errorf("%w: member %q is neither a GUID nor a UPN", ErrInvalidArgument, member)
	}
	return nil
}

// maxIdentityLen bounds an identity taken from a listing (a role group name, a trustee).
const maxIdentityLen = 256

// validateIdentity checks a name Exchange itself listed (a role group, a permission's
// trustee) before it is sent back: not empty, bounded, no control characters. It travels
// inside a JSON body, never in a URL or a filter, so quotes and backslashes are harmless
// ("NT AUTHORITY\SELF", "CONTOSO\jdoe").
func validateIdentity(what, s string) error {
	if strings.TrimSpace(s) == "" || len(s) > maxIdentityLen {
		return fmt.Errorf("%w: %s identity %q is empty or too long", ErrInvalidArgument, what, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s identity %q contains a control character", ErrInvalidArgument, what, s)
		}
	}
	return nil
}
