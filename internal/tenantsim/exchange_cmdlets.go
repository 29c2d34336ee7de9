package tenantsim

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

const exchangeTimeLayout = time.RFC3339

func (t *tenant) mailboxItem(mb *mailbox) map[string]any {
	display := mb.Name
	if u := t.user(mb.ExternalDirectoryObjectID); u != nil && u.DisplayName != "" {
		display = u.DisplayName
	}
	item := map[string]any{
		"Identity": mb.Identity, "Name": mb.Name, "Alias": mb.Alias, "DisplayName": display,
		"UserPrincipalName": mb.UserPrincipalName, "PrimarySmtpAddress": mb.PrimarySmtpAddress,
		"ExternalDirectoryObjectId":  mb.ExternalDirectoryObjectID,
		"ForwardingAddress":          nullable(mb.ForwardingAddress),
		"ForwardingSmtpAddress":      nullable(mb.ForwardingSmtpAddress),
		"DeliverToMailboxAndForward": mb.DeliverToMailboxAndForward,
		"RecipientTypeDetails":       "UserMailbox",
		"EmailAddresses":             emailAddresses(mb),
		"GrantSendOnBehalfTo":        t.sendOnBehalfNames(mb),
	}
	for k, v := range t.mailboxAuditActions() {
		item[k] = v
	}
	return item
}

// emailAddresses is the mailbox's EmailAddresses: the primary SMTP address with the
// upper-case prefix, the others with the lower-case one.
func emailAddresses(mb *mailbox) []string {
	out := []string{"SMTP:" + mb.PrimarySmtpAddress}
	for _, a := range mb.ProxyAddresses {
		out = append(out, "smtp:"+a)
	}
	return out
}

// resolveMailbox finds exactly one mailbox for an identity. Held under s.mu.
func (t *tenant) resolveMailbox(identity string) (*mailbox, *exoError) {
	switch found := t.mailboxByIdentity(identity); len(found) {
	case 0:
		return nil, t.exoNotFound(identity)
	case 1:
		return found[0], nil
	default:
		return nil, exoAmbiguous(identity)
	}
}

// forwardingFilter is the one OPATH filter of Get-Mailbox the simulator reads (Tourniquet's
// related-users look-up); any other filter is refused rather than answered wrongly.
var forwardingFilter = regexp.MustCompile(`(?i)^\s*ForwardingSmtpAddress\s+-eq\s+'([^']*)'\s*$`)

func (s *Sim) getMailbox(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity", "ResultSize", "Filter"); err != nil {
		return nil, err
	}
	identity, present, err := p.str("Identity")
	if err != nil {
		return nil, err
	}
	filter, filtered, err := p.str("Filter")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	if filtered {
		m := forwardingFilter.FindStringSubmatch(filter)
		if m == nil || present {
			return nil, exoInvalidArgument("Cannot bind parameter 'Filter'. The tenant simulator reads only the filter ForwardingSmtpAddress -eq '<value>' without Identity.")
		}
		size, err := exoInt(p, "ResultSize", 1000)
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, u := range t.users {
			if mb := t.mailboxes[u.ID]; mb != nil && mb.ForwardingSmtpAddress != "" && strings.EqualFold(mb.ForwardingSmtpAddress, m[1]) && len(out) < size {
				out = append(out, t.mailboxItem(mb))
			}
		}
		return out, nil
	}
	if present && identity != "" {
		mb, err := t.resolveMailbox(identity)
		if err != nil {
			return nil, err
		}
		return []any{t.mailboxItem(mb)}, nil
	}
	var out []any
	for _, u := range t.users {
		if mb := t.mailboxes[u.ID]; mb != nil {
			out = append(out, t.mailboxItem(mb))
		}
	}
	return out, nil
}

// setMailbox changes the forwarding parameters; JSON null (or "") clears an address.
func (s *Sim) setMailbox(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity", "ForwardingSmtpAddress", "ForwardingAddress", "DeliverToMailboxAndForward", "GrantSendOnBehalfTo", "Confirm", "Force"); err != nil {
		return nil, err
	}
	identity, err := p.required("Identity")
	if err != nil {
		return nil, err
	}
	smtp, smtpSet, err := p.str("ForwardingSmtpAddress")
	if err != nil {
		return nil, err
	}
	fwd, fwdSet, err := p.str("ForwardingAddress")
	if err != nil {
		return nil, err
	}
	deliver, deliverSet, err := p.boolean("DeliverToMailboxAndForward")
	if err != nil {
		return nil, err
	}
	if smtpSet && smtp != "" && !strings.Contains(smtp, "@") {
		return nil, exoInvalidArgument("Cannot process argument transformation on parameter 'ForwardingSmtpAddress'. \"" + smtp + "\" is not a valid SMTP address.")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	mb, err := t.resolveMailbox(identity)
	if err != nil {
		return nil, err
	}
	var fwdIdentity string
	if fwdSet && fwd != "" {
		target, err := t.resolveMailbox(fwd)
		if err != nil {
			return nil, err
		}
		fwdIdentity = target.Identity
	}
	if raw, ok := p.raw["grantsendonbehalfto"]; ok {
		if err := t.applySendOnBehalf(mb, raw); err != nil {
			return nil, err
		}
	}
	if smtpSet {
		mb.ForwardingSmtpAddress = normalizeSMTP(smtp)
	}
	if fwdSet {
		mb.ForwardingAddress = fwdIdentity
	}
	if deliverSet {
		mb.DeliverToMailboxAndForward = deliver
	}
	return nil, nil
}

func blockedItem(b *BlockedSender) map[string]any {
	return map[string]any{
		"SenderAddress": b.SenderAddress, "CreatedDatetime": b.Created.UTC().Format(exchangeTimeLayout),
		"ChangedDatetime": b.Changed.UTC().Format(exchangeTimeLayout), "Reason": b.Reason, "Identity": b.Identity,
		"TemporaryBlock": false,
	}
}

func (s *Sim) getBlockedSenderAddress(p exoParams) ([]any, *exoError) {
	if err := p.only("SenderAddress"); err != nil {
		return nil, err
	}
	sender, _, err := p.str("SenderAddress")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []any
	for _, b := range s.tenant.blocked {
		if sender == "" || strings.EqualFold(b.SenderAddress, sender) {
			out = append(out, blockedItem(b))
		}
	}
	return out, nil
}

func (s *Sim) removeBlockedSenderAddress(p exoParams) ([]any, *exoError) {
	if err := p.only("SenderAddress", "Reason", "Confirm"); err != nil {
		return nil, err
	}
	sender, err := p.required("SenderAddress")
	if err != nil {
		return nil, err
	}
	reason, reasonSet, err := p.str("Reason")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	i, b := t.blockedSender(sender)
	if i < 0 {
		return nil, t.exoNotFound(sender)
	}
	// Reason is "the reason the user was blocked" (the entry's Reason property), not a note:
	// any other text names no block. The real service's exact answer is not documented;
	// refusing it keeps a client that sends free text from passing here.
	if reasonSet && reason != b.Reason {
		return nil, exoInvalidArgument("Cannot process argument 'Reason': '" + reason + "' is not the reason '" + sender + "' was blocked (" + b.Reason + ").")
	}
	t.blocked = slices.Delete(t.blocked, i, i+1)
	return nil, nil
}

func (s *Sim) getAcceptedDomain(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity"); err != nil {
		return nil, err
	}
	identity, _, err := p.str("Identity")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []any
	for i, d := range s.tenant.domains {
		if identity != "" && !strings.EqualFold(identity, d) {
			continue
		}
		out = append(out, map[string]any{"DomainName": d, "DomainType": "Authoritative", "Default": i == 0, "Name": d, "Identity": d})
	}
	if identity != "" && len(out) == 0 {
		return nil, s.tenant.exoNotFound(identity)
	}
	return out, nil
}
