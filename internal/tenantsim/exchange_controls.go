package tenantsim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// These controls put the Exchange side of the simulated tenant into the states real
// tenants are in (docs/simulator-fidelity.md, "Exchange: mailbox-less users, owners,
// vanishing rules").

// SetNotFoundStatus chooses the HTTP status of ManagementObjectNotFoundException answers:
// 404 (the default, code NotFound) or 400 (code BadRequest). Exchange answers a missing
// object either way depending on the cmdlet and the path inside the service; clients must
// recognise both.
func (s *Sim) SetNotFoundStatus(status int) {
	if status != http.StatusBadRequest {
		status = http.StatusNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.notFoundStatus = status
}

// RemoveMailbox takes the user's mailbox away, as removing the Exchange Online licence
// does: the directory user stays, Get-Mailbox and Get-InboxRule answer not-found.
func (s *Sim) RemoveMailbox(upn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.tenant.user(upn); u != nil {
		delete(s.tenant.mailboxes, u.ID)
	}
}

// SetMailboxOwner sets the ExternalDirectoryObjectId of the user's mailbox, e.g. to another
// object id, to play an address that Exchange resolves to somebody else's mailbox.
func (s *Sim) SetMailboxOwner(upn, objectID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.tenant.mailboxOf(upn); mb != nil {
		mb.ExternalDirectoryObjectID = objectID
	}
}

// AddInboxRules appends many rules to the user's mailbox under one lock and returns their
// identities (nil when the user has no mailbox). Seeds of large mailboxes use it.
func (s *Sim) AddInboxRules(upn string, rules []InboxRule) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	mb := t.mailboxOf(upn)
	if mb == nil {
		return nil
	}
	ids := make([]string, 0, len(rules))
	for _, r := range rules {
		t.nextRule++
		r.RuleIdentity = strconv.FormatUint(t.nextRule, 10)
		r.Identity = mb.UserPrincipalName + `\` + r.RuleIdentity
		r.MailboxOwnerID = mb.Identity
		if r.Description == "" {
			r.Description = describeRule(r)
		}
		mb.rules = append(mb.rules, &r)
		ids = append(ids, r.Identity)
	}
	mb.renumberRules()
	return ids
}

// DeleteInboxRule removes a rule by its Identity, as the user (or the attacker) deleting it
// in Outlook would. It reports whether the rule existed.
func (s *Sim) DeleteInboxRule(upn, identity string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.tenant.mailboxOf(upn)
	if mb == nil {
		return false
	}
	i := slices.IndexFunc(mb.rules, func(r *InboxRule) bool { return strings.EqualFold(r.Identity, identity) })
	if i < 0 {
		return false
	}
	mb.rules = slices.Delete(mb.rules, i, i+1)
	mb.renumberRules()
	return true
}

// cmdletHook runs once before the next request for its cmdlet is served.
type cmdletHook struct {
	cmdlet string
	run    func()
}

// OnNextCmdlet runs fn once, just before the next InvokeCommand request for cmdlet
// (case-insensitive) is served: a test can change the tenant between a client's listing
// and its action. fn runs without the tenant lock, so it may call the Sim's methods.
func (s *Sim) OnNextCmdlet(cmdlet string, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.cmdletHooks = append(s.tenant.cmdletHooks, cmdletHook{cmdlet: cmdlet, run: fn})
}

func (s *Sim) runCmdletHooks(cmdlet string) {
	s.tenant.hookRunning.Lock()
	defer s.tenant.hookRunning.Unlock()
	s.mu.Lock()
	var due []func()
	kept := s.tenant.cmdletHooks[:0]
	for _, h := range s.tenant.cmdletHooks {
		if strings.EqualFold(h.cmdlet, cmdlet) {
			due = append(due, h.run)
			continue
		}
		kept = append(kept, h)
	}
	s.tenant.cmdletHooks = kept
	s.mu.Unlock()
	for _, fn := range due {
		fn()
	}
}

// LiftBlock takes an address off the Restricted users list, as an admin in the portal or
// Exchange's automatic release would. It reports whether the address was restricted.
func (s *Sim) LiftBlock(address string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	i, _ := t.blockedSender(address)
	if i < 0 {
		return false
	}
	t.blocked = slices.Delete(t.blocked, i, i+1)
	return true
}
