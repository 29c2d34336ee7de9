package exchange

import (
	"context"
	"fmt"
	"strings"
)

// SelfPrincipal is the well-known principal of a mailbox's own account: its FullAccess and
// SendAs entries are how every mailbox works, not delegates.
const SelfPrincipal = `NT AUTHORITY\SELF`

// IsSystemPrincipal reports a well-known Windows principal ("NT AUTHORITY\SELF",
// "NT AUTHORITY\SYSTEM", ...): Exchange's own entries on every mailbox, never a delegate.
func IsSystemPrincipal(name string) bool {
	return strings.HasPrefix(strings.ToUpper(strings.TrimSpace(name)), `NT AUTHORITY\`)
}

// MailboxPermission is one entry of Get-MailboxPermission.
type MailboxPermission struct {
	Identity        string
	User            string // the trustee as Exchange shows it: a UPN, DOMAIN\name, or a SID when orphaned
	AccessRights    []string
	IsInherited     bool
	Deny            bool
	InheritanceType string // All, None, Children, Descendents, SelfAndChildren
	Raw             map[string]any
}

// Has reports whether the entry grants right.
func (p MailboxPermission) Has(right string) bool { return hasRight(p.AccessRights, right) }

type mailboxPermissionWire struct {
	Identity        text
	User            text
	AccessRights    textList
	IsInherited     flag
	Deny            flag
	InheritanceType text
}

// RecipientPermission is one entry of Get-RecipientPermission (SendAs).
type RecipientPermission struct {
	Identity          string
	Trustee           string
	AccessControlType string // Allow or Deny
	AccessRights      []string
	IsInherited       bool
	InheritanceType   string
	Raw               map[string]any
}

// Has reports whether the entry grants right.
func (p RecipientPermission) Has(right string) bool { return hasRight(p.AccessRights, right) }

type recipientPermissionWire struct {
	Identity          text
	Trustee           text
	AccessControlType text
	AccessRights      textList
	IsInherited       flag
	InheritanceType   text
}

// hasRight matches a right in a list that may arrive as ["FullAccess","ReadPermission"] or
// as one string "FullAccess, ReadPermission" (the way PowerShell prints the flags enum).
func hasRight(rights []string, right string) bool {
	for _, r := range rights {
		for _, part := range strings.Split(r, ",") {
			if strings.EqualFold(strings.TrimSpace(part), right) {
				return true
			}
		}
	}
	return false
}

// MailboxPermissions lists the permission entries of a mailbox: inherited, denied and
// NT AUTHORITY\SELF ones included, as Exchange answers them; the caller picks delegates.
func (c *Client) MailboxPermissions(ctx context.Context, upn string) ([]MailboxPermission, error) {
	if err := validateAddress(upn); err != nil {
		return nil, fmt.Errorf("exchange.MailboxPermissions: %w", err)
	}
	const cmdlet = "Get-MailboxPermission"
	items, err := c.invoke(ctx, AnchorUser(upn), cmdlet, map[string]any{"Identity": upn, "ResultSize": "Unlimited"})
	if err != nil {
		return nil, fmt.Errorf("exchange.MailboxPermissions: %w", err)
	}
	out := make([]MailboxPermission, 0, len(items))
	for i, item := range items {
		var w mailboxPermissionWire
		raw, unreadable, err := decodeItem(item, &w)
		if err == nil && len(unreadable) > 0 {
			// Which entries are inherited or denied decides what is removed: a guess is worse
			// than failing.
			err = fmt.Errorf("unreadable %s", strings.Join(unreadable, ", "))
		}
		if err != nil {
			return nil, fmt.Errorf("exchange.MailboxPermissions: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
		}
		out = append(out, MailboxPermission{
			Identity: string(w.Identity), User: strings.TrimSpace(string(w.User)), AccessRights: w.AccessRights,
			IsInherited: bool(w.IsInherited), Deny: bool(w.Deny), InheritanceType: string(w.InheritanceType), Raw: raw,
		})
	}
	return out, nil
}

// RecipientPermissions lists the SendAs entries of a mailbox (SELF and inherited included).
func (c *Client) RecipientPermissions(ctx context.Context, upn string) ([]RecipientPermission, error) {
	if err := validateAddress(upn); err != nil {
		return nil, fmt.Errorf("exchange.RecipientPermissions: %w", err)
	}
	const cmdlet = "Get-RecipientPermission"
	items, err := c.invoke(ctx, AnchorUser(upn), cmdlet, map[string]any{"Identity": upn, "ResultSize": "Unlimited"})
	if err != nil {
		return nil, fmt.Errorf("exchange.RecipientPermissions: %w", err)
	}
	out := make([]RecipientPermission, 0, len(items))
	for i, item := range items {
		var w recipientPermissionWire
		raw, unreadable, err := decodeItem(item, &w)
		if err == nil && len(unreadable) > 0 {
			err = fmt.Errorf("unreadable %s", strings.Join(unreadable, ", "))
		}
		if err != nil {
			return nil, fmt.Errorf("exchange.RecipientPermissions: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
		}
		out = append(out, RecipientPermission{
			Identity: string(w.Identity), Trustee: strings.TrimSpace(string(w.Trustee)), AccessControlType: string(w.AccessControlType),
			AccessRights: w.AccessRights, IsInherited: bool(w.IsInherited), InheritanceType: string(w.InheritanceType), Raw: raw,
		})
	}
	return out, nil
}

// inheritanceTypes are the values Add-/Remove-MailboxPermission take.
var inheritanceTypes = []string{"All", "None", "Children", "Descendents", "SelfAndChildren"}

func checkInheritance(t string) (string, error) {
	if t == "" {
		return "All", nil
	}
	for _, v := range inheritanceTypes {
		if strings.EqualFold(v, t) {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: InheritanceType %q", ErrInvalidArgument, t)
}

// RemoveFullAccess removes user's explicit FullAccess on the mailbox, for the inheritance
// type the entry was listed with ("" means All, the type Add-MailboxPermission gives).
func (c *Client) RemoveFullAccess(ctx context.Context, upn, user, inheritance string) error {
	if err := c.fullAccessCall(ctx, "Remove-MailboxPermission", upn, user, inheritance); err != nil {
		return fmt.Errorf("exchange.RemoveFullAccess: %w", err)
	}
	return nil
}

// AddFullAccess grants user FullAccess on the mailbox again (restore). AutoMapping is left
// at Exchange's default: whether the grant was auto-mapped is not part of what
// Get-MailboxPermission shows.
func (c *Client) AddFullAccess(ctx context.Context, upn, user, inheritance string) error {
	if err := c.fullAccessCall(ctx, "Add-MailboxPermission", upn, user, inheritance); err != nil {
		return fmt.Errorf("exchange.AddFullAccess: %w", err)
	}
	return nil
}

func (c *Client) fullAccessCall(ctx context.Context, cmdlet, upn, user, inheritance string) error {
	if err := validateAddress(upn); err != nil {
		return err
	}
	if err := validateIdentity("trustee", user); err != nil {
		return err
	}
	inh, err := checkInheritance(inheritance)
	if err != nil {
		return err
	}
	params := map[string]any{"Identity": upn, "User": user, "AccessRights": []string{"FullAccess"}, "InheritanceType": inh}
	if cmdlet == "Remove-MailboxPermission" {
		params["Confirm"] = false
	}
	_, err = c.invoke(ctx, AnchorUser(upn), cmdlet, params)
	return err
}

// RemoveSendAs removes trustee's SendAs on the mailbox.
func (c *Client) RemoveSendAs(ctx context.Context, upn, trustee string) error {
	if err := c.sendAsCall(ctx, "Remove-RecipientPermission", upn, trustee); err != nil {
		return fmt.Errorf("exchange.RemoveSendAs: %w", err)
	}
	return nil
}

// AddSendAs grants trustee SendAs on the mailbox again (restore).
func (c *Client) AddSendAs(ctx context.Context, upn, trustee string) error {
	if err := c.sendAsCall(ctx, "Add-RecipientPermission", upn, trustee); err != nil {
		return fmt.Errorf("exchange.AddSendAs: %w", err)
	}
	return nil
}

func (c *Client) sendAsCall(ctx context.Context, cmdlet, upn, trustee string) error {
	if err := validateAddress(upn); err != nil {
		return err
	}
	if err := validateIdentity("trustee", trustee); err != nil {
		return err
	}
	_, err := c.invoke(ctx, AnchorUser(upn), cmdlet, map[string]any{
		"Identity": upn, "Trustee": trustee, "AccessRights": []string{"SendAs"}, "Confirm": false,
	})
	return err
}

// RemoveSendOnBehalf takes delegate off the mailbox's GrantSendOnBehalfTo; AddSendOnBehalf
// puts it back. Both change only that one entry: PowerShell's @{remove=...} / @{add=...}
// goes over REST as an object typed "#Exchange.GenericHashTable" (the shape public tools
// that call InvokeCommand send; docs/wire-formats.md), never as a new whole list, so a
// delegate granted meanwhile is not lost.
func (c *Client) RemoveSendOnBehalf(ctx context.Context, upn, delegate string) error {
	if err := c.sendOnBehalfCall(ctx, "remove", upn, delegate); err != nil {
		return fmt.Errorf("exchange.RemoveSendOnBehalf: %w", err)
	}
	return nil
}

// AddSendOnBehalf grants delegate SendOnBehalf on the mailbox again (restore).
func (c *Client) AddSendOnBehalf(ctx context.Context, upn, delegate string) error {
	if err := c.sendOnBehalfCall(ctx, "add", upn, delegate); err != nil {
		return fmt.Errorf("exchange.AddSendOnBehalf: %w", err)
	}
	return nil
}

func (c *Client) sendOnBehalfCall(ctx context.Context, op, upn, delegate string) error {
	if err := validateAddress(upn); err != nil {
		return err
	}
	if err := validateIdentity("delegate", delegate); err != nil {
		return err
	}
	_, err := c.invoke(ctx, AnchorUser(upn), "Set-Mailbox", map[string]any{
		"Identity":            upn,
		"GrantSendOnBehalfTo": map[string]any{"@odata.type": "#Exchange.GenericHashTable", op: []string{delegate}},
		"Confirm":             false,
	})
	return err
}
