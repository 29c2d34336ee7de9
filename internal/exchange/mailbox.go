package exchange

import (
	"context"
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
	Raw                 map[string]any
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
	var w mailboxWire
	raw, _, err := decodeItem(items[0], &w)
	if err != nil {
		return Mailbox{}, fmt.Errorf("exchange.GetMailbox: %w", invalidAnswer(cmdlet, err))
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
		Raw:                        raw,
	}, nil
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
