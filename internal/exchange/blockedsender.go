package exchange

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BlockedSender is one entry of the Restricted users list (Get-BlockedSenderAddress).
type BlockedSender struct {
	SenderAddress   string
	Reason          string
	CreatedDatetime time.Time // UTC
	Raw             map[string]any
}

type blockedSenderWire struct {
	SenderAddress   text
	Reason          text
	CreatedDatetime text
}

// The restricted-users cmdlets are organisation-wide, so they are anchored on the tenant's
// system mailbox even when one sender is named: the blocked address need not be a UPN and
// need not route to a mailbox at all.

// BlockedSenders lists restricted senders; address "" lists all of them.
func (c *Client) BlockedSenders(ctx context.Context, address string) ([]BlockedSender, error) {
	params := map[string]any{}
	if address != "" {
		if err := validateAddress(address); err != nil {
			return nil, fmt.Errorf("exchange.BlockedSenders: %w", err)
		}
		params["SenderAddress"] = address
	}
	const cmdlet = "Get-BlockedSenderAddress"
	items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, params)
	if err != nil {
		return nil, fmt.Errorf("exchange.BlockedSenders: %w", err)
	}
	senders := make([]BlockedSender, 0, len(items))
	for i, item := range items {
		var w blockedSenderWire
		raw, unreadable, err := decodeItem(item, &w)
		if err == nil && len(unreadable) > 0 {
			// The address and the creation time are what the step acts on and the sweep keys
			// its idempotency on: guessing either is worse than failing.
			err = fmt.Errorf("unreadable %s", strings.Join(unreadable, ", "))
		}
		if err == nil {
			var created time.Time
			created, err = parseExchangeTime(string(w.CreatedDatetime))
			senders = append(senders, BlockedSender{
				SenderAddress: string(w.SenderAddress), Reason: string(w.Reason), CreatedDatetime: created, Raw: raw,
			})
		}
		if err != nil {
			return nil, fmt.Errorf("exchange.BlockedSenders: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
		}
	}
	return senders, nil
}

// RemoveBlockedSender lifts the sending restriction of address. It sends SenderAddress
// only: the cmdlet's Reason parameter is not a note but "the reason the user was blocked"
// (the Reason property of the entry, e.g. "ExceedingLimitType=External;..."), so free
// text there would name a block that does not exist.
func (c *Client) RemoveBlockedSender(ctx context.Context, address string) error {
	if err := validateAddress(address); err != nil {
		return fmt.Errorf("exchange.RemoveBlockedSender: %w", err)
	}
	params := map[string]any{"SenderAddress": address}
	if _, err := c.invoke(ctx, AnchorApp(c.tenantID), "Remove-BlockedSenderAddress", params); err != nil {
		return fmt.Errorf("exchange.RemoveBlockedSender: %w", err)
	}
	return nil
}

var legacyDatePattern = regexp.MustCompile(`^/Date\((-?\d+)(?:[+-]\d{4})?\)/$`)

// parseExchangeTime reads the date forms Exchange emits: RFC 3339 (with or without zone;
// without one it is UTC) and the legacy "/Date(<ms>)/". The creation time keys the sweep's
// idempotency, so an unreadable one is an error rather than a zero time.
func parseExchangeTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("CreatedDatetime is missing")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t.UTC(), nil
	}
	if m := legacyDatePattern.FindStringSubmatch(s); m != nil {
		if ms, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			return time.UnixMilli(ms).UTC(), nil // the offset, if any, is display-only
		}
	}
	return time.Time{}, fmt.Errorf("CreatedDatetime %q is not a date", s)
}
