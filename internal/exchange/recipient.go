package exchange

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Recipient is one recipient as Get-Recipient shows it: what a delegate list names by its
// Name (often a GUID) resolved to an address a person can read.
type Recipient struct {
	Identity                  string
	Name                      string
	DisplayName               string
	PrimarySmtpAddress        string
	ExternalDirectoryObjectID string
	Guid                      string
	RecipientType             string
	RecipientTypeDetails      string
}

type recipientWire struct {
	Identity                  text
	Name                      text
	DisplayName               text
	PrimarySmtpAddress        text
	ExternalDirectoryObjectID text `json:"ExternalDirectoryObjectId"`
	Guid                      text
	ExchangeObjectID          text `json:"ExchangeObjectId"`
	RecipientType             text
	RecipientTypeDetails      text
}

// Recipient reads the one recipient identity names. identity must be a GUID or an SMTP
// address (validated): Microsoft's Get-Recipient page warns that "the value $null or a
// non-existent value for the Identity parameter returns all objects", so nothing looser is
// sent, and an answer that is not exactly one recipient, or whose GUIDs (Exchange object
// GUID, Entra object id) and addresses do not include what was asked for, is refused
// rather than taken for the one asked about.
func (c *Client) Recipient(ctx context.Context, identity string) (Recipient, error) {
	const cmdlet = "Get-Recipient"
	isGUID := guidPattern.MatchString(identity)
	if !isGUID {
		if err := validateAddress(identity); err != nil {
			return Recipient{}, fmt.Errorf("exchange.Recipient: %w: %q is neither a GUID nor an SMTP address", ErrInvalidArgument, identity)
		}
	}
	items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, map[string]any{"Identity": identity})
	if err != nil {
		return Recipient{}, fmt.Errorf("exchange.Recipient: %w", err)
	}
	if len(items) != 1 {
		return Recipient{}, fmt.Errorf("exchange.Recipient: %w", &Error{Cmdlet: cmdlet, Status: http.StatusOK, Code: "Ambiguous",
			Message: fmt.Sprintf("%d recipients answered for %q, not one", len(items), identity)})
	}
	var w recipientWire
	if _, _, err := decodeItem(items[0], &w); err != nil {
		return Recipient{}, fmt.Errorf("exchange.Recipient: %w", invalidAnswer(cmdlet, err))
	}
	r := Recipient{
		Identity: string(w.Identity), Name: string(w.Name), DisplayName: string(w.DisplayName),
		PrimarySmtpAddress:        strings.TrimSpace(string(w.PrimarySmtpAddress)),
		ExternalDirectoryObjectID: strings.TrimSpace(string(w.ExternalDirectoryObjectID)),
		Guid:                      strings.TrimSpace(string(w.Guid)),
		RecipientType:             string(w.RecipientType), RecipientTypeDetails: string(w.RecipientTypeDetails),
	}
	if r.Guid == "" {
		r.Guid = strings.TrimSpace(string(w.ExchangeObjectID))
	}
	matches := false
	for _, v := range []string{r.Guid, strings.TrimSpace(string(w.ExchangeObjectID)), r.ExternalDirectoryObjectID, r.Name, r.PrimarySmtpAddress} {
		matches = matches || v != "" && strings.EqualFold(v, identity)
	}
	if !matches {
		return Recipient{}, fmt.Errorf("exchange.Recipient: %w", &Error{Cmdlet: cmdlet, Status: http.StatusOK, Code: "Mismatch",
			Message: fmt.Sprintf("the recipient answered for %q (%s) is not the one asked for", identity, r.Identity)})
	}
	return r, nil
}
