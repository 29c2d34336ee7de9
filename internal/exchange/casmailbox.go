package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// MailProtocols are the client access settings disable-mail-protocols turns off, by the
// names Get-CASMailbox shows them and Set-CASMailbox takes them (the Set-CASMailbox and
// CASMailbox pages of Microsoft's Exchange documentation): the six protocols, Outlook for
// iOS and Android, Outlook for Mac, and SMTP AUTH. SmtpClientAuthenticationDisabled is
// the one whose true means off.
var MailProtocols = []string{"OWAEnabled", "MAPIEnabled", "EwsEnabled", "ActiveSyncEnabled", "PopEnabled", "ImapEnabled",
	"OutlookMobileEnabled", "MacOutlookEnabled", "SmtpClientAuthenticationDisabled"}

// ProtocolInverted reports whether the setting's true means the protocol is off
// (SmtpClientAuthenticationDisabled).
func ProtocolInverted(name string) bool {
	return strings.EqualFold(name, "SmtpClientAuthenticationDisabled")
}

// ProtocolOffValue is the value Set-CASMailbox is sent to turn the protocol off.
func ProtocolOffValue(name string) bool { return ProtocolInverted(name) }

// ProtocolAcceptsNull reports whether Set-CASMailbox takes $null for the setting (back to
// the organisation's setting). The Set-CASMailbox page lists blank ($null) as a valid value
// only for SmtpClientAuthenticationDisabled; EwsEnabled, although Get-CASMailbox shows it
// null, is documented with $true and $false only.
func ProtocolAcceptsNull(name string) bool { return ProtocolInverted(name) }

// ProtocolRestoreValue is the value a restore sends for a recorded previous value (nil:
// null). A null the cmdlet does not take is sent as the setting's documented default, on
// ($true): for EwsEnabled that has the effect null had, because since April 2025
// (Microsoft 365 message center MC1015893) a mailbox's EWS is allowed only when the
// organisation's EwsEnabled allows it too, whether the mailbox says true or null.
func ProtocolRestoreValue(name string, recorded *bool) any {
	if recorded != nil {
		return *recorded
	}
	if ProtocolAcceptsNull(name) {
		return nil
	}
	return !ProtocolOffValue(name)
}

// ProtocolState is one setting's state. Exchange Online shows some of them (EwsEnabled,
// SmtpClientAuthenticationDisabled) as null when the mailbox follows the organisation's
// setting: Set is false then, and the protocol counts as on, because nothing on the mailbox
// stops it (the organisation's EwsEnabled is read separately, OrganizationConfig).
type ProtocolState struct {
	Set     bool // false when the property was null or absent
	Enabled bool // the protocol may be used: the property's value, or its opposite when Inverted
	// Inverted: the property's true means off (SmtpClientAuthenticationDisabled).
	Inverted bool
}

// On reports whether the protocol may be used with this mailbox as far as the mailbox says.
func (p ProtocolState) On() bool { return !p.Set || p.Enabled }

// Value is the state as the JSON value Get-CASMailbox showed: true, false or nil (the
// organisation's setting).
func (p ProtocolState) Value() any {
	if !p.Set {
		return nil
	}
	return p.Enabled != p.Inverted
}

// OrganizationConfig is the part of Get-OrganizationConfig disable-mail-protocols reads.
type OrganizationConfig struct {
	// EwsEnabled is the organisation's EWS switch: nil when not configured (null), false
	// when EWS is blocked for every mailbox whatever the mailbox says (Set-OrganizationConfig
	// page; since MC1015893 a mailbox's true no longer overrides it).
	EwsEnabled *bool
}

// OrganizationConfig reads the organisation's settings (Get-OrganizationConfig).
func (c *Client) OrganizationConfig(ctx context.Context) (OrganizationConfig, error) {
	const cmdlet = "Get-OrganizationConfig"
	items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, nil)
	if err != nil {
		return OrganizationConfig{}, fmt.Errorf("exchange.OrganizationConfig: %w", err)
	}
	if len(items) != 1 {
		return OrganizationConfig{}, fmt.Errorf("exchange.OrganizationConfig: %w", &Error{Cmdlet: cmdlet, Status: http.StatusOK, Code: "Ambiguous",
			Message: fmt.Sprintf("%d organisation configurations in the answer", len(items))})
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(items[0], &props); err != nil {
		return OrganizationConfig{}, fmt.Errorf("exchange.OrganizationConfig: %w", invalidAnswer(cmdlet, err))
	}
	var out OrganizationConfig
	for k, v := range props {
		if !strings.EqualFold(k, "EwsEnabled") || strings.TrimSpace(string(v)) == "null" {
			continue
		}
		var f flag
		if err := json.Unmarshal(v, &f); err != nil {
			return OrganizationConfig{}, fmt.Errorf("exchange.OrganizationConfig: %w", invalidAnswer(cmdlet, fmt.Errorf("EwsEnabled: %w", err)))
		}
		b := bool(f)
		out.EwsEnabled = &b
	}
	return out, nil
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

// protocolStates reads the protocol properties (names matched case-insensitively). A
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
			out[name] = ProtocolState{Inverted: ProtocolInverted(name)}
			continue
		}
		var f flag
		if err := json.Unmarshal(value, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		inverted := ProtocolInverted(name)
		out[name] = ProtocolState{Set: true, Enabled: bool(f) != inverted, Inverted: inverted}
	}
	return out, nil
}

// SetMailProtocols sets the named protocols of a mailbox with one Set-CASMailbox call. A
// value is the property's own value (SmtpClientAuthenticationDisabled: true turns SMTP AUTH
// off): true, false, or nil (the organisation's setting again) where the cmdlet takes $null
// (ProtocolAcceptsNull). Only the names of MailProtocols are accepted.
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
		case bool:
		case nil:
			if known && !ProtocolAcceptsNull(name) {
				return fmt.Errorf("exchange.SetMailProtocols: %w: Set-CASMailbox takes no $null for %s", ErrInvalidArgument, name)
			}
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
