package tenantsim

import (
	"slices"
	"strings"
)

// User returns a user by object id or UPN.
func (s *Sim) User(idOrUPN string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.tenant.user(idOrUPN); u != nil {
		return *u, true
	}
	return User{}, false
}

// PasswordResets returns the accepted password changes of a user (id or UPN).
func (s *Sim) PasswordResets(userID string) []PasswordReset {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.tenant.user(userID); u != nil {
		return slices.Clone(s.tenant.resets[u.ID])
	}
	return nil
}

// SessionsRevoked counts revokeSignInSessions calls for a user (id or UPN).
func (s *Sim) SessionsRevoked(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.tenant.user(userID); u != nil {
		return s.tenant.revoked[u.ID]
	}
	return 0
}

// Mailbox returns the mailbox of a user (id or UPN); the zero Mailbox when there is none.
func (s *Sim) Mailbox(upn string) Mailbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.tenant.mailboxOf(upn); mb != nil {
		return mb.Mailbox
	}
	return Mailbox{}
}

// InboxRules returns every rule of a mailbox, hidden ones included, in priority order.
func (s *Sim) InboxRules(upn string) []InboxRule {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.tenant.mailboxOf(upn)
	if mb == nil {
		return nil
	}
	out := make([]InboxRule, len(mb.rules))
	for i, r := range mb.rules {
		out[i] = cloneRule(*r)
	}
	return out
}

// RoleAssignments returns the active role assignments of a principal (direct and PIM active).
func (s *Sim) RoleAssignments(principalID string) []RoleAssignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RoleAssignment
	for _, a := range s.tenant.assignments {
		if strings.EqualFold(a.PrincipalID, principalID) {
			out = append(out, *a)
		}
	}
	return out
}

// EligibleRoles returns the PIM eligibility schedules of a principal.
func (s *Sim) EligibleRoles(principalID string) []RoleSchedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return schedulesOf(s.tenant.eligible, principalID)
}

// ActivePIMRoles returns the PIM active assignment schedules of a principal.
func (s *Sim) ActivePIMRoles(principalID string) []RoleSchedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return schedulesOf(s.tenant.activePIM, principalID)
}

// GroupMembers returns the user ids of a group's members.
func (s *Sim) GroupMembers(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.tenant.group(groupID); g != nil {
		return slices.Clone(s.tenant.members[g.ID])
	}
	return nil
}

// BlockedSenders returns the Restricted users list.
func (s *Sim) BlockedSenders() []BlockedSender {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]BlockedSender, len(s.tenant.blocked))
	for i, b := range s.tenant.blocked {
		out[i] = *b
	}
	return out
}

func schedulesOf(list []*RoleSchedule, principalID string) []RoleSchedule {
	var out []RoleSchedule
	for _, sc := range list {
		if strings.EqualFold(sc.PrincipalID, principalID) {
			out = append(out, *sc)
		}
	}
	return out
}

func cloneRule(r InboxRule) InboxRule {
	for _, l := range []*[]string{&r.From, &r.ForwardTo, &r.RedirectTo, &r.ForwardAsAttachmentTo, &r.SubjectContainsWords,
		&r.BodyContainsWords, &r.SubjectOrBodyContainsWords, &r.FromAddressContainsWords, &r.SendTextMessageNotificationTo} {
		*l = slices.Clone(*l)
	}
	return r
}
