package tenantsim

import (
	"slices"
	"strings"
)

// inboxRuleItem is the Get-InboxRule wire shape; nil lists and empty strings where the
// service answers null are rendered as null.
type inboxRuleItem struct {
	Identity                      string   `json:"Identity"`
	RuleIdentity                  string   `json:"RuleIdentity"`
	Name                          string   `json:"Name"`
	Enabled                       bool     `json:"Enabled"`
	Priority                      int      `json:"Priority"`
	Description                   string   `json:"Description"`
	From                          []string `json:"From"`
	ForwardTo                     []string `json:"ForwardTo"`
	RedirectTo                    []string `json:"RedirectTo"`
	ForwardAsAttachmentTo         []string `json:"ForwardAsAttachmentTo"`
	DeleteMessage                 bool     `json:"DeleteMessage"`
	MarkAsRead                    bool     `json:"MarkAsRead"`
	MarkImportance                *string  `json:"MarkImportance"`
	FlaggedForAction              *string  `json:"FlaggedForAction"`
	MoveToFolder                  *string  `json:"MoveToFolder"`
	SubjectContainsWords          []string `json:"SubjectContainsWords"`
	BodyContainsWords             []string `json:"BodyContainsWords"`
	SubjectOrBodyContainsWords    []string `json:"SubjectOrBodyContainsWords"`
	FromAddressContainsWords      []string `json:"FromAddressContainsWords"`
	SendTextMessageNotificationTo []string `json:"SendTextMessageNotificationTo"`
	StopProcessingRules           bool     `json:"StopProcessingRules"`
	MailboxOwnerID                string   `json:"MailboxOwnerId"`
}

func ruleItem(r *InboxRule) inboxRuleItem {
	c := cloneRule(*r)
	return inboxRuleItem{
		Identity: c.Identity, RuleIdentity: c.RuleIdentity, Name: c.Name, Enabled: c.Enabled, Priority: c.Priority,
		Description: c.Description, From: c.From, ForwardTo: c.ForwardTo, RedirectTo: c.RedirectTo,
		ForwardAsAttachmentTo: c.ForwardAsAttachmentTo, DeleteMessage: c.DeleteMessage, MarkAsRead: c.MarkAsRead,
		MarkImportance: optional(c.MarkImportance), FlaggedForAction: optional(c.FlaggedForAction), MoveToFolder: optional(c.MoveToFolder),
		SubjectContainsWords: c.SubjectContainsWords, BodyContainsWords: c.BodyContainsWords,
		SubjectOrBodyContainsWords: c.SubjectOrBodyContainsWords, FromAddressContainsWords: c.FromAddressContainsWords,
		SendTextMessageNotificationTo: c.SendTextMessageNotificationTo, StopProcessingRules: c.StopProcessingRules,
		MailboxOwnerID: c.MailboxOwnerID,
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// getInboxRule lists a mailbox's rules (hidden ones only with IncludeHidden), or one rule
// by Identity.
func (s *Sim) getInboxRule(p exoParams) ([]any, *exoError) {
	if err := p.only("Mailbox", "Identity", "IncludeHidden", "BypassScopeCheck", "DescriptionTimeFormat", "DescriptionTimeZone", "SweepRules"); err != nil {
		return nil, err
	}
	mailboxID, _, err := p.str("Mailbox")
	if err != nil {
		return nil, err
	}
	identity, _, err := p.str("Identity")
	if err != nil {
		return nil, err
	}
	includeHidden, _, err := p.boolean("IncludeHidden")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if identity != "" {
		mb, i, err := t.resolveRule(identity, mailboxID, includeHidden)
		if err != nil {
			return nil, err
		}
		return []any{ruleItem(mb.rules[i])}, nil
	}
	if mailboxID == "" {
		return nil, exoInvalidArgument("Cannot process command because of one or more missing mandatory parameters: Mailbox.")
	}
	mb, err := t.resolveMailbox(mailboxID)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, r := range mb.rules {
		if r.Hidden && !includeHidden {
			continue
		}
		out = append(out, ruleItem(r))
	}
	return out, nil
}

func (s *Sim) disableInboxRule(p exoParams) ([]any, *exoError) {
	return s.changeRule(p, func(mb *mailbox, i int) { mb.rules[i].Enabled = false })
}

func (s *Sim) enableInboxRule(p exoParams) ([]any, *exoError) {
	return s.changeRule(p, func(mb *mailbox, i int) { mb.rules[i].Enabled = true })
}

func (s *Sim) removeInboxRule(p exoParams) ([]any, *exoError) {
	return s.changeRule(p, func(mb *mailbox, i int) {
		mb.rules = slices.Delete(mb.rules, i, i+1)
		mb.renumberRules()
	})
}

// changeRule resolves the Identity (and optional Mailbox) of Disable/Enable/Remove-InboxRule
// and applies change under the tenant lock. Hidden rules can be changed by identity.
func (s *Sim) changeRule(p exoParams, change func(mb *mailbox, i int)) ([]any, *exoError) {
	if err := p.only("Identity", "Mailbox", "Confirm", "Force", "AlwaysDeleteOutlookRulesBlob"); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	mailboxID, _, err := p.str("Mailbox")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mb, i, err := s.tenant.resolveRule(identity, mailboxID, true)
	if err != nil {
		return nil, err
	}
	change(mb, i)
	return nil, nil
}

// resolveRule finds a rule from an Identity of the form "<mailbox>\<RuleIdentity or Name>",
// or a bare RuleIdentity or Name with the Mailbox parameter. Held under s.mu.
func (t *tenant) resolveRule(identity, mailboxID string, includeHidden bool) (*mailbox, int, *exoError) {
	mbPart, rulePart := "", identity
	if i := strings.LastIndex(identity, `\`); i >= 0 {
		mbPart, rulePart = identity[:i], identity[i+1:]
	}
	if mbPart == "" {
		mbPart = mailboxID
	}
	if mbPart == "" || rulePart == "" {
		return nil, -1, t.exoNotFound(identity)
	}
	mb, err := t.resolveMailbox(mbPart)
	if err != nil {
		return nil, -1, t.exoNotFound(identity)
	}
	if mailboxID != "" {
		other, err := t.resolveMailbox(mailboxID)
		if err != nil || other != mb {
			return nil, -1, t.exoNotFound(identity)
		}
	}
	found := -1
	for i, r := range mb.rules {
		if r.Hidden && !includeHidden {
			continue
		}
		if r.RuleIdentity == rulePart {
			return mb, i, nil
		}
		if strings.EqualFold(r.Name, rulePart) {
			if found >= 0 {
				return nil, -1, exoAmbiguous(identity)
			}
			found = i
		}
	}
	if found < 0 {
		return nil, -1, t.exoNotFound(identity)
	}
	return mb, found, nil
}

// describeRule writes a Description in the style Exchange generates.
func describeRule(r InboxRule) string {
	var cond, act []string
	quote := func(words []string) string { return "'" + strings.Join(words, "' or '") + "'" }
	if len(r.From) > 0 {
		cond = append(cond, "the message was received from "+strings.Join(r.From, " or "))
	}
	if len(r.SubjectContainsWords) > 0 {
		cond = append(cond, "the message includes specific words in the subject "+quote(r.SubjectContainsWords))
	}
	if len(r.BodyContainsWords) > 0 {
		cond = append(cond, "the message includes specific words in the body "+quote(r.BodyContainsWords))
	}
	if len(r.SubjectOrBodyContainsWords) > 0 {
		cond = append(cond, "the message includes specific words in the subject or body "+quote(r.SubjectOrBodyContainsWords))
	}
	if len(r.FromAddressContainsWords) > 0 {
		cond = append(cond, "the message includes specific words in the sender's address "+quote(r.FromAddressContainsWords))
	}
	if r.MoveToFolder != "" {
		act = append(act, "move the message to folder '"+folderName(r.MoveToFolder)+"'")
	}
	if r.MarkAsRead {
		act = append(act, "mark the message as read")
	}
	if r.MarkImportance != "" {
		act = append(act, "mark the message with "+strings.ToLower(r.MarkImportance)+" importance")
	}
	if r.FlaggedForAction != "" {
		act = append(act, "flag the message for action '"+r.FlaggedForAction+"'")
	}
	for _, l := range []struct {
		verb string
		to   []string
	}{{"forward the message to", r.ForwardTo}, {"redirect the message to", r.RedirectTo}, {"forward the message as an attachment to", r.ForwardAsAttachmentTo}, {"send a text message to", r.SendTextMessageNotificationTo}} {
		if len(l.to) > 0 {
			act = append(act, l.verb+" "+strings.Join(l.to, " or "))
		}
	}
	if r.DeleteMessage {
		act = append(act, "delete the message")
	}
	if r.StopProcessingRules {
		act = append(act, "stop processing more rules on this message")
	}
	var b strings.Builder
	if len(cond) > 0 {
		b.WriteString("If the message:\r\n\t" + strings.Join(cond, "\r\n\tand ") + "\r\n")
	}
	b.WriteString("Take the following actions:\r\n\t" + strings.Join(act, "\r\n\tand ") + "\r\n")
	return b.String()
}

// folderName strips the "<mailbox>:\" prefix of a MoveToFolder value.
func folderName(moveTo string) string {
	if _, f, ok := strings.Cut(moveTo, `:\`); ok {
		return f
	}
	return moveTo
}
