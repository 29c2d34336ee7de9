package remediation

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/graph"
)

// protectedRefresh is how long a resolution of PROTECTED_ACCOUNTS is trusted before the next
// check resolves the entries again (an account renamed or recreated meanwhile).
const protectedRefresh = 15 * time.Minute

// protectedAccounts holds PROTECTED_ACCOUNTS resolved to object ids. Entries are matched by
// object id after resolving them in the directory by UPN or id, never by mail (which lesser
// admins can change, so a mail entry could be made to point at another account or away from
// the one it meant).
type protectedAccounts struct {
	mu         sync.Mutex
	ids        map[string]string // lower-case object id -> the entry that named it
	unresolved []string
	resolvedAt time.Time
}

// ProtectedStatus is what GET /api/health reports of PROTECTED_ACCOUNTS.
type ProtectedStatus struct {
	Resolved   int      `json:"resolved"`
	Unresolved []string `json:"unresolved"`
	ResolvedAt string   `json:"resolvedAt,omitempty"`
}

// ResolveProtected resolves every PROTECTED_ACCOUNTS entry in the directory now and logs
// each one that does not resolve. The handler calls it at start; checks call it again when
// the last resolution is older than protectedRefresh.
func (s *Service) ResolveProtected(ctx context.Context) ProtectedStatus {
	ids := map[string]string{}
	var unresolved []string
	for _, entry := range s.Config.Protected {
		if !ValidUser(entry) {
			unresolved = append(unresolved, entry)
			s.Log.Error("PROTECTED_ACCOUNTS entry is neither a UPN nor an object id; it protects nothing until corrected", "entry", entry)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		u, err := s.Runner.Directory.GetUser(rctx, entry)
		cancel()
		if err != nil || u.ID == "" {
			unresolved = append(unresolved, entry)
			s.Log.Error("PROTECTED_ACCOUNTS entry did not resolve to a user in the directory; it is still matched by its literal id or UPN", "entry", entry, "err", err)
			continue
		}
		ids[strings.ToLower(u.ID)] = entry
	}
	p := &s.protectedSet
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids, p.unresolved, p.resolvedAt = ids, unresolved, s.now()
	return p.statusLocked()
}

// Protected reports the last resolution of PROTECTED_ACCOUNTS, without calling the directory.
func (s *Service) Protected() ProtectedStatus {
	p := &s.protectedSet
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resolvedAt.IsZero() {
		return ProtectedStatus{Unresolved: append([]string{}, s.Config.Protected...)}
	}
	return p.statusLocked()
}

func (p *protectedAccounts) statusLocked() ProtectedStatus {
	st := ProtectedStatus{Resolved: len(p.ids), Unresolved: append([]string{}, p.unresolved...), ResolvedAt: p.resolvedAt.Format(time.RFC3339)}
	return st
}

// protected reports whether u is a protected account: its object id is one an entry resolved
// to, or (for an entry that did not resolve) the entry is literally its id or UPN.
func (s *Service) protected(ctx context.Context, u graph.User) bool {
	if len(s.Config.Protected) == 0 {
		return false
	}
	p := &s.protectedSet
	p.mu.Lock()
	stale := p.resolvedAt.IsZero() || s.now().Sub(p.resolvedAt) > protectedRefresh
	p.mu.Unlock()
	if stale {
		s.ResolveProtected(ctx)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if u.ID != "" && p.ids[strings.ToLower(u.ID)] != "" {
		return true
	}
	for _, e := range s.Config.Protected {
		if e != "" && (strings.EqualFold(e, u.ID) || strings.EqualFold(e, u.UserPrincipalName)) {
			return true
		}
	}
	return false
}
