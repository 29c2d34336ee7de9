package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// InboxRule is one rule as Get-InboxRule returns it. Raw keeps the full definition as
// returned, for evidence. Hidden is not a property Exchange returns: the client sets it on
// rules that only appear when -IncludeHidden is given.
type InboxRule struct {
	Identity                      string // "<mailbox>\<RuleIdentity>", what Disable/Remove-InboxRule take
	RuleIdentity                  string // 64-bit unsigned decimal, "" when null
	Name                          string
	Description                   string
	MoveToFolder                  string // e.g. "jdoe:\RSS Feeds", "" when null
	Enabled                       bool
	DeleteMessage                 bool
	MarkAsRead                    bool
	StopProcessingRules           bool
	Hidden                        bool
	Priority                      int
	ForwardTo                     []string // recipients such as `"Name" [SMTP:a@b.c]`
	RedirectTo                    []string
	ForwardAsAttachmentTo         []string
	SubjectContainsWords          []string
	BodyContainsWords             []string
	SubjectOrBodyContainsWords    []string
	FromAddressContainsWords      []string
	SendTextMessageNotificationTo []string
	// Unreadable names the properties whose values had an unexpected type; they are left at
	// their zero value (Enabled at true, see decodeInboxRule) and kept as sent in Raw.
	Unreadable []string
	Raw        map[string]any
}

type inboxRuleWire struct {
	Identity                      text
	RuleIdentity                  ruleID
	Name                          text
	Description                   text
	MoveToFolder                  text
	Enabled                       flag
	DeleteMessage                 flag
	MarkAsRead                    flag
	StopProcessingRules           flag
	IsHidden                      flag // not in Exchange's output (see InboxRules); honoured if a service sends it
	Priority                      integer
	ForwardTo                     textList
	RedirectTo                    textList
	ForwardAsAttachmentTo         textList
	SubjectContainsWords          textList
	BodyContainsWords             textList
	SubjectOrBodyContainsWords    textList
	FromAddressContainsWords      textList
	SendTextMessageNotificationTo textList
}

// InboxRules lists every inbox rule of the mailbox, hidden ones included. It runs
// Get-InboxRule with and without -IncludeHidden concurrently and marks Hidden on the rules
// only the first listing holds (Exchange has no property for it). The order is the
// -IncludeHidden listing's.
func (c *Client) InboxRules(ctx context.Context, upn string) ([]InboxRule, error) {
	if err := validateAddress(upn); err != nil {
		return nil, fmt.Errorf("exchange.InboxRules: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var all, visible []InboxRule
	var allErr, visibleErr error
	var wg sync.WaitGroup
	list := func(includeHidden bool, rules *[]InboxRule, errp *error) {
		defer wg.Done()
		params := map[string]any{"Mailbox": upn}
		if includeHidden {
			params["IncludeHidden"] = true
		}
		*rules, *errp = c.listInboxRules(ctx, upn, params)
		if *errp != nil {
			cancel() // the other listing is useless without this one
		}
	}
	wg.Add(2)
	go list(true, &all, &allErr)
	go list(false, &visible, &visibleErr)
	wg.Wait()

	if err := firstCause(allErr, visibleErr); err != nil {
		return nil, fmt.Errorf("exchange.InboxRules: %w", err)
	}
	return markHidden(all, visible), nil
}

func (c *Client) listInboxRules(ctx context.Context, upn string, params map[string]any) ([]InboxRule, error) {
	const cmdlet = "Get-InboxRule"
	items, err := c.invoke(ctx, AnchorUser(upn), cmdlet, params)
	if err != nil {
		return nil, err
	}
	rules := make([]InboxRule, 0, len(items))
	for i, item := range items {
		rule, err := decodeInboxRule(item)
		if err != nil {
			return nil, invalidAnswer(cmdlet, fmt.Errorf("rule %d: %w", i, err))
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

func decodeInboxRule(item json.RawMessage) (InboxRule, error) {
	var w inboxRuleWire
	raw, unreadable, err := decodeItem(item, &w)
	if err != nil {
		return InboxRule{}, err
	}
	if slices.Contains(unreadable, "Enabled") {
		// An unreadable Enabled must not make a suspicious rule look disabled (and so be
		// skipped): disabling a rule that already is disabled is harmless.
		w.Enabled = true
	}
	return InboxRule{
		Identity:                      string(w.Identity),
		RuleIdentity:                  string(w.RuleIdentity),
		Name:                          string(w.Name),
		Description:                   string(w.Description),
		MoveToFolder:                  string(w.MoveToFolder),
		Enabled:                       bool(w.Enabled),
		DeleteMessage:                 bool(w.DeleteMessage),
		MarkAsRead:                    bool(w.MarkAsRead),
		StopProcessingRules:           bool(w.StopProcessingRules),
		Hidden:                        bool(w.IsHidden),
		Priority:                      int(w.Priority),
		ForwardTo:                     w.ForwardTo,
		RedirectTo:                    w.RedirectTo,
		ForwardAsAttachmentTo:         w.ForwardAsAttachmentTo,
		SubjectContainsWords:          w.SubjectContainsWords,
		BodyContainsWords:             w.BodyContainsWords,
		SubjectOrBodyContainsWords:    w.SubjectOrBodyContainsWords,
		FromAddressContainsWords:      w.FromAddressContainsWords,
		SendTextMessageNotificationTo: w.SendTextMessageNotificationTo,
		Unreadable:                    unreadable,
		Raw:                           raw,
	}, nil
}

// markHidden sets Hidden on rules of all that visible lacks. A rule created between the
// two listings that only visible holds is appended, so nothing seen is dropped.
func markHidden(all, visible []InboxRule) []InboxRule {
	seen := make(map[string]bool, len(visible))
	for _, r := range visible {
		seen[ruleKey(r)] = true
	}
	inAll := make(map[string]bool, len(all))
	out := make([]InboxRule, 0, len(all))
	for _, r := range all {
		key := ruleKey(r)
		inAll[key] = true
		r.Hidden = r.Hidden || !seen[key]
		out = append(out, r)
	}
	for _, r := range visible {
		if !inAll[ruleKey(r)] {
			out = append(out, r)
		}
	}
	return out
}

func ruleKey(r InboxRule) string {
	switch {
	case r.RuleIdentity != "":
		return "id:" + r.RuleIdentity
	case r.Identity != "":
		return "identity:" + r.Identity
	default:
		return "name:" + r.Name
	}
}

// firstCause prefers an error that is not merely the other goroutine's cancellation.
func firstCause(errs ...error) error {
	var fallback error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if fallback == nil {
			fallback = err
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != "Canceled" {
			return err
		}
	}
	return fallback
}

// DisableInboxRule disables one rule of the mailbox upn. identity is the rule's Identity
// as listed ("<upn>\<id>"), an alias-prefixed identity or the bare RuleIdentity; the rule
// is always addressed inside upn's mailbox.
func (c *Client) DisableInboxRule(ctx context.Context, upn, identity string) error {
	if err := c.ruleAction(ctx, "Disable-InboxRule", upn, identity); err != nil {
		return fmt.Errorf("exchange.DisableInboxRule: %w", err)
	}
	return nil
}

// RemoveInboxRule deletes one rule of the mailbox upn; identity as for DisableInboxRule.
func (c *Client) RemoveInboxRule(ctx context.Context, upn, identity string) error {
	if err := c.ruleAction(ctx, "Remove-InboxRule", upn, identity); err != nil {
		return fmt.Errorf("exchange.RemoveInboxRule: %w", err)
	}
	return nil
}

func (c *Client) ruleAction(ctx context.Context, cmdlet, upn, identity string) error {
	id, err := ruleIdentityFor(upn, identity)
	if err != nil {
		return err
	}
	_, err = c.invoke(ctx, AnchorUser(upn), cmdlet, map[string]any{"Identity": id, "Confirm": false})
	return err
}
