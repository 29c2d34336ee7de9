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

// ProtectedStatus is the last resolution of PROTECTED_ACCOUNTS, for the handler's log: it
// names the entries that did not resolve. GET /api/health is anonymous and shows only
// ProtectedCounts.
type ProtectedStatus struct {
	Resolved   int      `json:"resolved"`
	Unresolved []string `json:"unresolved"`
	ResolvedAt string   `json:"resolvedAt,omitempty"`
}

// ResolveProtected resolves every PROTECTED_ACCOUNTS entry in the directory now and logs
// each one that does not resolve. The handler calls it at start; checks call it again when
// the last resolution is older than protectedRefresh.
//
// An entry that resolved before and does not now (Graph throttled or failed, the account
// was renamed or deleted) keeps its last good object id: a passing failure must not leave a
// break-glass account unprotected until the next resolution. Keeping an id is always the
// safe side; an object id is never given to another object.
func (s *Service) ResolveProtected(ctx context.Context) ProtectedStatus {
	lastGood := map[string]string{} // entry -> object id it resolved to last time
	s.protectedSet.mu.Lock()
	for id, entry := range s.protectedSet.ids {
		lastGood[entry] = id
	}
	s.protectedSet.mu.Unlock()
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
			if id, ok := lastGood[entry]; ok {
				ids[id] = entry
				s.Log.Warn("PROTECTED_ACCOUNTS entry did not resolve this time; it keeps the object id it resolved to before", "entry", entry, "err", err)
				continue
			}
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

// ProtectedCounts is what the anonymous GET /api/health says of PROTECTED_ACCOUNTS: numbers
// only. Naming the entries would tell anyone who asks which accounts are the tenant's
// break-glass accounts (contract section 2).
type ProtectedCounts struct {
	Configured int    `json:"configured"`
	Resolved   int    `json:"resolved"`
	Unresolved int    `json:"unresolved"`
	ResolvedAt string `json:"resolvedAt,omitempty"`
}

// ProtectedCounts counts PROTECTED_ACCOUNTS as last resolved, from memory (never from Graph).
func (s *Service) ProtectedCounts() ProtectedCounts {
	st := s.Protected()
	return ProtectedCounts{Configured: len(s.Config.Protected), Resolved: st.Resolved, Unresolved: len(st.Unresolved), ResolvedAt: st.ResolvedAt}
}

// Degraded lists, in words an operator acts on, the safety rails this handler runs without:
// no break-glass account named (a misfiring playbook could reach every admin), or no record
// key of its own (run records then verify only in this process). GET /api/health reports
// them; the handler logs them at start.
func (s *Service) Degraded() []string {
	var reasons []string
	if len(s.Config.Protected) == 0 {
		reasons = append(reasons, "PROTECTED_ACCOUNTS is empty: no break-glass account is exempt from remediation; name at least one account that holds Global Administrator")
	}
	if !s.Config.RecordKeySet {
		reasons = append(reasons, "TOURNIQUET_RECORD_KEY is not set: run records are sealed with a key of this process only, so runs and restores do not verify after a restart or on another instance; set it to a Key Vault reference of 32 random bytes (base64)")
	}
	return reasons
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

// ProtectedGlobalAdmins counts PROTECTED_ACCOUNTS for the preflight: how many are named, how
// many resolved to an object id, and how many of those hold Global Administrator (a
// break-glass account). It resolves the entries when they never were.
func (s *Service) ProtectedGlobalAdmins(ctx context.Context) (configured, resolved, admins int, err error) {
	configured = len(s.Config.Protected)
	if configured == 0 {
		return 0, 0, 0, nil
	}
	st := s.Protected()
	if st.ResolvedAt == "" {
		st = s.ResolveProtected(ctx)
	}
	list, err := s.globalAdmins(ctx)
	if err != nil {
		return configured, st.Resolved, 0, err
	}
	for _, a := range list {
		if s.protected(ctx, a) {
			admins++
		}
	}
	return configured, st.Resolved, admins, nil
}
