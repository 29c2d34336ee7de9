package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// MailProtocols are the client access protocols disable-mail-protocols turns off, by the
// names Get-CASMailbox shows them and Set-CASMailbox takes them (the Set-CASMailbox and
// CASMailbox pages of Microsoft's Exchange documentation).
var MailProtocols = []string{"OWAEnabled", "MAPIEnabled", "EwsEnabled", "ActiveSyncEnabled", "PopEnabled", "ImapEnabled"}

// ProtocolState is one protocol's setting. Exchange Online shows some of them (EwsEnabled
// in particular) as null when the mailbox follows the organisation's setting, which is on
// unless an admin turned it off tenant-wide: Set is false then, and the protocol counts as
// on, because nothing on the mailbox stops it.
type ProtocolState struct {
	Set     bool // false when the property was null or absent
	Enabled bool
}

// On reports whether the protocol may be used with this mailbox as far as the mailbox says.
func (p ProtocolState) On() bool { return !p.Set || p.Enabled }

// Value is the state as the JSON value Set-CASMailbox takes to restore it: true, false or
// nil (back to the organisation's setting).
func (p ProtocolState) Value() any {
	if !p.Set {
		return nil
	}
	return p.Enabled
}

// CASMailbox is the part of Get-CASMailbox disable-mail-protocols reads.
type CASMailbox struct {
	Identity                  string
	PrimarySmtpAddress        string
	ExternalDirectoryObjectID string // "" when the service leaves it out
	Protocols                 map[string]ProtocolState
	Raw                       map[string]any
}

type casMailboxWire struct {
	Identity                  text
	PrimarySmtpAddress        text
	ExternalDirectoryObjectID text `json:"ExternalDirectoryObjectId"`
}

// GetCASMailbox reads the client access settings of one mailbox. A missing mailbox is an
// error for which IsNotFound holds.
func (c *Client) GetCASMailbox(ctx context.Context, upn string) (CASMailbox, error) {
	if err := validateAddress(upn); err != nil {
		return CASMailbox{}, fmt.Errorf("exchange.GetCASMailbox: %w", err)
	}
	const cmdlet = "Get-CASMailbox"
	items, err := c.invoke(ctx, AnchorUser(upn), cmdlet, map[string]any{"Identity": upn})
	if err != nil {
		return CASMailbox{}, fmt.Errorf("exchange.GetCASMailbox: %w", err)
	}
	switch len(items) {
	case 1:
	case 0:
		return CASMailbox{}, fmt.Errorf("exchange.GetCASMailbox: %w", &Error{Cmdlet: cmdlet, Status: http.StatusNotFound, Code: "NotFound",
			Message: fmt.Sprintf("no mailbox %q", upn)})
	default:
		return CASMailbox{}, fmt.Errorf("exchange.GetCASMailbox: %w", &Error{Cmdlet: cmdlet, Status: http.StatusOK, Code: "Ambiguous",
			Message: fmt.Sprintf("%d mailboxes match %q", len(items), upn)})
	}
	var w casMailboxWire
	raw, _, err := decodeItem(items[0], &w)
	if err == nil {
		var protocols map[string]ProtocolState
		if protocols, err = protocolStates(items[0]); err == nil {
			return CASMailbox{
				Identity: string(w.Identity), PrimarySmtpAddress: string(w.PrimarySmtpAddress),
				ExternalDirectoryObjectID: strings.TrimSpace(string(w.ExternalDirectoryObjectID)),
				Protocols:                 protocols, Raw: raw,
			}, nil
		}
	}
	return CASMailbox{}, fmt.Errorf("exchange.GetCASMailbox: %w", invalidAnswer(cmdlet, err))
}

// protocolStates reads the six protocol properties (names matched case-insensitively). A
// value that is neither a boolean, "True"/"False" nor null is an error: guessing "off"
// would leave a protocol on, guessing "on" would record a value that never was.
func protocolStates(item json.RawMessage) (map[string]ProtocolState, error) {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(item, &props); err != nil {
		return nil, err
	}
	folded := make(map[string]json.RawMessage, len(props))
	for k, v := range props {
		folded[strings.ToLower(k)] = v
	}
	out := make(map[string]ProtocolState, len(MailProtocols))
	for _, name := range MailProtocols {
		value, ok := folded[strings.ToLower(name)]
		if !ok || strings.TrimSpace(string(value)) == "null" {
			out[name] = ProtocolState{}
			continue
		}
		var f flag
		if err := json.Unmarshal(value, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = ProtocolState{Set: true, Enabled: bool(f)}
	}
	return out, nil
}

// SetMailProtocols sets the named protocols of a mailbox with one Set-CASMailbox call. A
// value is true, false, or nil (the organisation's setting again, for a restore of a
// protocol that was null). Only the six protocol names are accepted.
func (c *Client) SetMailProtocols(ctx context.Context, upn string, values map[string]any) error {
	if err := validateAddress(upn); err != nil {
		return fmt.Errorf("exchange.SetMailProtocols: %w", err)
	}
	if len(values) == 0 {
		return fmt.Errorf("exchange.SetMailProtocols: %w: no protocol to set", ErrInvalidArgument)
	}
	params := map[string]any{"Identity": upn}
	for name, v := range values {
		known := false
		for _, p := range MailProtocols {
			known = known || p == name
		}
		switch v.(type) {
		case bool, nil:
		default:
			known = false
		}
		if !known {
			return fmt.Errorf("exchange.SetMailProtocols: %w: %q=%v is not a protocol setting", ErrInvalidArgument, name, v)
		}
		params[name] = v
	}
	if _, err := c.invoke(ctx, AnchorUser(upn), "Set-CASMailbox", params); err != nil {
		return fmt.Errorf("exchange.SetMailProtocols: %w", err)
	}
	return nil
}
