package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Mailbox is the part of Get-Mailbox that the forwarding step reads; Raw keeps the whole
// item as returned, for evidence.
type Mailbox struct {
	Identity                   string
	UserPrincipalName          string
	PrimarySmtpAddress         string
	ForwardingAddress          string // a recipient inside the organisation, "" when none
	ForwardingSmtpAddress      string // "smtp:<address>", "" when none
	DeliverToMailboxAndForward bool
	// ExternalDirectoryObjectID is the Entra object id of the user the mailbox belongs to:
	// the steps compare it with the run's user before they change anything.
	ExternalDirectoryObjectID string
	// GrantSendOnBehalfTo lists the recipients that may send on behalf of the mailbox, as
	// Exchange names them (their Name, or an address).
	GrantSendOnBehalfTo []string
	// EmailAddresses are the mailbox's proxy addresses as Exchange writes them
	// ("SMTP:primary@domain", "smtp:alias@domain", "X500:...", "SIP:...").
	EmailAddresses []string
	Raw            map[string]any
}

// SenderAddresses are the SMTP addresses mail from the mailbox can be sent as: the primary
// address first, then the other SMTP proxy addresses, lower case, without duplicates. The
// UPN is not among them unless it is also a proxy address.
func (m Mailbox) SenderAddresses() []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != "" && strings.Contains(a, "@") && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	add(m.PrimarySmtpAddress)
	for _, p := range m.EmailAddresses {
		if prefix, addr, ok := strings.Cut(p, ":"); ok && strings.EqualFold(prefix, "smtp") {
			add(addr)
		} else if !ok {
			add(p)
		}
	}
	return out
}

// HasForwarding reports whether mail is forwarded anywhere. DeliverToMailboxAndForward
// alone forwards nothing: it only says whether a copy stays when a target is set.
func (m Mailbox) HasForwarding() bool {
	return m.ForwardingAddress != "" || m.ForwardingSmtpAddress != ""
}

type mailboxWire struct {
	Identity                   text
	UserPrincipalName          text
	PrimarySmtpAddress         text
	ForwardingAddress          text
	ForwardingSmtpAddress      text
	DeliverToMailboxAndForward flag
	ExternalDirectoryObjectID  text `json:"ExternalDirectoryObjectId"`
	GrantSendOnBehalfTo        textList
	EmailAddresses             textList
}

// GetMailbox reads one mailbox. A missing mailbox is an error for which IsNotFound holds.
func (c *Client) GetMailbox(ctx context.Context, upn string) (Mailbox, error) {
	if err := validateAddress(upn); err != nil {
		return Mailbox{}, fmt.Errorf("exchange.GetMailbox: %w", err)
	}
	const cmdlet = "Get-Mailbox"
	items, err := c.invoke(ctx, AnchorUser(upn), cmdlet, map[string]any{"Identity": upn})
	if err != nil {
		return Mailbox{}, fmt.Errorf("exchange.GetMailbox: %w", err)
	}
	switch len(items) {
	case 1:
	case 0:
		return Mailbox{}, fmt.Errorf("exchange.GetMailbox: %w", &Error{Cmdlet: cmdlet, Status: http.StatusNotFound, Code: "NotFound",
			Message: fmt.Sprintf("no mailbox %q", upn)})
	default:
		return Mailbox{}, fmt.Errorf("exchange.GetMailbox: %w", &Error{Cmdlet: cmdlet, Status: http.StatusOK, Code: "Ambiguous",
			Message: fmt.Sprintf("%d mailboxes match %q", len(items), upn)})
	}
	m, err := decodeMailbox(items[0])
	if err != nil {
		return Mailbox{}, fmt.Errorf("exchange.GetMailbox: %w", invalidAnswer(cmdlet, err))
	}
	return m, nil
}

func decodeMailbox(item json.RawMessage) (Mailbox, error) {
	var w mailboxWire
	raw, _, err := decodeItem(item, &w)
	if err != nil {
		return Mailbox{}, err
	}
	return Mailbox{
		Identity:                   string(w.Identity),
		UserPrincipalName:          string(w.UserPrincipalName),
		PrimarySmtpAddress:         string(w.PrimarySmtpAddress),
		ForwardingAddress:          string(w.ForwardingAddress),
		ForwardingSmtpAddress:      string(w.ForwardingSmtpAddress),
		DeliverToMailboxAndForward: bool(w.DeliverToMailboxAndForward),
		ExternalDirectoryObjectID:  strings.TrimSpace(string(w.ExternalDirectoryObjectID)),
		GrantSendOnBehalfTo:        w.GrantSendOnBehalfTo,
		EmailAddresses:             w.EmailAddresses,
		Raw:                        raw,
	}, nil
}

// maxForwardingLookup bounds MailboxesForwardingTo: one answer of at most this many.
const maxForwardingLookup = 100

// MailboxesForwardingTo lists the mailboxes whose mailbox-level forwarding goes to addr
// (Get-Mailbox -Filter on ForwardingSmtpAddress, a filterable property; the service
// stores the value as "smtp:<address>"). One answer of at most 100 mailboxes.
func (c *Client) MailboxesForwardingTo(ctx context.Context, addr string) ([]Mailbox, error) {
	const cmdlet = "Get-Mailbox"
	if err := validateAddress(addr); err != nil {
		return nil, fmt.Errorf("exchange.MailboxesForwardingTo: %w", err)
	}
	// The address goes inside an OPATH string: only characters that need no quoting.
	for _, r := range addr {
		if !isASCIIAlnum(r) && !strings.ContainsRune(".-_+@", r) {
			return nil, fmt.Errorf("exchange.MailboxesForwardingTo: %w: %q is not looked up in a filter (character %q)", ErrInvalidArgument, addr, r)
		}
	}
	items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, map[string]any{
		"Filter":     "ForwardingSmtpAddress -eq 'smtp:" + addr + "'",
		"ResultSize": maxForwardingLookup,
	})
	if err != nil {
		return nil, fmt.Errorf("exchange.MailboxesForwardingTo: %w", err)
	}
	out := make([]Mailbox, 0, len(items))
	for i, item := range items {
		m, err := decodeMailbox(item)
		if err != nil {
			return nil, fmt.Errorf("exchange.MailboxesForwardingTo: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
		}
		out = append(out, m)
	}
	return out, nil
}

// ClearForwarding removes mailbox-level forwarding. Both ForwardingSmtpAddress and
// ForwardingAddress are cleared (many scripts forget the second), and
// DeliverToMailboxAndForward is reset.
func (c *Client) ClearForwarding(ctx context.Context, upn string) error {
	if err := validateAddress(upn); err != nil {
		return fmt.Errorf("exchange.ClearForwarding: %w", err)
	}
	_, err := c.invoke(ctx, AnchorUser(upn), "Set-Mailbox", map[string]any{
		"Identity":                   upn,
		"ForwardingSmtpAddress":      nil,
		"ForwardingAddress":          nil,
		"DeliverToMailboxAndForward": false,
	})
	if err != nil {
		return fmt.Errorf("exchange.ClearForwarding: %w", err)
	}
	return nil
}

// MailItemsAccessedAudit says whether the mailbox records MailItemsAccessed, from
// Get-Mailbox's AuditOwner/AuditDelegate/AuditAdmin lists (the mailbox audit actions;
// Microsoft adds new actions such as MailItemsAccessed to the default lists "subject to the
// user having the appropriate license": Purview Audit Premium, E5). AuditEnabled is not
// read: with mailbox auditing on by default in the organisation, a mailbox whose
// AuditEnabled is False still audits the default actions (Purview "Manage mailbox
// auditing"). known is false when the answer lacks the lists; why says what was seen.
func (m Mailbox) MailItemsAccessedAudit() (audited, known bool, why string) {
	var lists []string
	for _, name := range []string{"AuditOwner", "AuditDelegate", "AuditAdmin"} {
		v, ok := m.Raw[name]
		if !ok {
			continue
		}
		lists = append(lists, name)
		for _, a := range auditActions(v) {
			if strings.EqualFold(a, "MailItemsAccessed") {
				return true, true, "Get-Mailbox " + name + " lists MailItemsAccessed"
			}
		}
	}
	if len(lists) == 0 {
		return false, false, "Get-Mailbox answered no AuditOwner, AuditDelegate or AuditAdmin list"
	}
	return false, true, "the mailbox does not audit MailItemsAccessed (Get-Mailbox " + strings.Join(lists, ", ") +
		" lack it): the tenant's licence does not record it (Purview Audit Premium or E5), or it was taken out of the mailbox's audit actions"
}

// auditActions reads a mailbox audit action list as Exchange answers it: an array of
// strings, or one comma-separated string.
func auditActions(v any) []string {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, strings.TrimSpace(s))
			}
		}
		return out
	case string:
		var out []string
		for _, s := range strings.Split(x, ",") {
			out = append(out, strings.TrimSpace(s))
		}
		return out
	}
	return nil
}
