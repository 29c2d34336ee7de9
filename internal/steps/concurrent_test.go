package steps

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// slowMailboxes is a Mailboxes whose rule actions take a random time, so concurrent calls
// finish out of order; failing names rules whose action fails with a 500.
type slowMailboxes struct {
	Mailboxes // nil: only the methods below are called
	rules     []exchange.InboxRule
	failing   map[string]bool

	mu       sync.Mutex
	disabled []string
	inFlight atomic.Int32
	peak     atomic.Int32
}

func (m *slowMailboxes) AcceptedDomains(context.Context) ([]exchange.AcceptedDomain, error) {
	return []exchange.AcceptedDomain{{DomainName: "contoso.example"}}, nil
}

func (m *slowMailboxes) GetMailbox(_ context.Context, upn string) (exchange.Mailbox, error) {
	return exchange.Mailbox{Identity: "u", UserPrincipalName: upn, ExternalDirectoryObjectID: slowUserID}, nil
}

const slowUserID = "11111111-1111-4111-8111-111111111111"

func (m *slowMailboxes) InboxRules(context.Context, string) ([]exchange.InboxRule, error) {
	return m.rules, nil
}

func (m *slowMailboxes) DisableInboxRule(_ context.Context, _, identity string) error {
	n := m.inFlight.Add(1)
	defer m.inFlight.Add(-1)
	for p := m.peak.Load(); n > p && !m.peak.CompareAndSwap(p, n); p = m.peak.Load() {
	}
	time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
	if m.failing[identity] {
		return &exchange.Error{Cmdlet: "Disable-InboxRule", Status: 500, Message: "injected"}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.disabled = append(m.disabled, identity)
	return nil
}

func suspiciousRules(n int) []exchange.InboxRule {
	var rules []exchange.InboxRule
	for i := 0; i < n; i++ {
		rules = append(rules, exchange.InboxRule{
			Identity: fmt.Sprintf(`u@contoso.example\%d`, i), Name: fmt.Sprintf("fwd %d", i), Enabled: true,
			ForwardTo: []string{"x@evil.example"},
		})
	}
	return rules
}

func targets(changes []runs.Change) []string {
	var out []string
	for _, c := range changes {
		out = append(out, c.Target)
	}
	return out
}

func TestRuleActionsRunConcurrentlyAndRecordInListingOrder(t *testing.T) {
	tests := []struct {
		name        string
		rules       int
		failing     map[string]bool
		wantStatus  runs.StepStatus
		wantChanges int
	}{
		{"all succeed", 10, nil, runs.StepSucceeded, 10},
		{"one fails: the others are done and recorded", 10, map[string]bool{`u@contoso.example\3`: true}, runs.StepFailed, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := &slowMailboxes{rules: suspiciousRules(tt.rules), failing: tt.failing}
			r := &Runner{Mailboxes: mb}
			out := r.Run(context.Background(), RemoveInboxRules, Input{Target: Target{ID: slowUserID, UPN: "u@contoso.example"}})
			if out.Status != tt.wantStatus || len(out.Changes) != tt.wantChanges {
				t.Fatalf("status %s with %d changes, want %s with %d", out.Status, len(out.Changes), tt.wantStatus, tt.wantChanges)
			}
			// The record follows the listing, whatever order the calls finished in.
			var want []string
			for _, rule := range mb.rules {
				if !tt.failing[rule.Identity] {
					want = append(want, ruleTarget(rule))
				}
			}
			if got := targets(out.Changes); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("changes in order %v, want %v", got, want)
			}
			if len(mb.disabled) != tt.wantChanges {
				t.Fatalf("%d rules disabled, %d recorded", len(mb.disabled), tt.wantChanges)
			}
			if p := mb.peak.Load(); p < 2 || p > maxConcurrentCalls {
				t.Fatalf("peak concurrency %d, want 2..%d", p, maxConcurrentCalls)
			}
			if tt.failing != nil && (out.Error == nil || !out.Transient) {
				t.Fatalf("a 500 must fail the step transiently with its cause: %+v", out)
			}
		})
	}
}

// fakeDirectory holds one user's role grants; removals take a random time.
type fakeDirectory struct {
	Directory // nil: only the methods below are called
	direct    []graph.RoleAssignment
	eligible  []graph.RoleSchedule
	groups    []graph.Group
	groupRole map[string][]graph.RoleAssignment

	mu      sync.Mutex
	removed []string
}

func (d *fakeDirectory) RoleAssignments(_ context.Context, principal string) ([]graph.RoleAssignment, error) {
	if roles, ok := d.groupRole[principal]; ok {
		return roles, nil
	}
	return d.direct, nil
}

func (d *fakeDirectory) EligibleSchedules(_ context.Context, principal string) ([]graph.RoleSchedule, error) {
	if _, ok := d.groupRole[principal]; ok {
		return nil, nil
	}
	return d.eligible, nil
}

func (d *fakeDirectory) ActiveSchedules(context.Context, string) ([]graph.RoleSchedule, error) {
	return nil, nil
}

func (d *fakeDirectory) RoleAssignableGroups(context.Context, string) ([]graph.Group, error) {
	return d.groups, nil
}

func (d *fakeDirectory) GroupEligibilities(context.Context, string) ([]graph.GroupEligibility, error) {
	return nil, nil
}

func (d *fakeDirectory) note(what string) error {
	time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removed = append(d.removed, what)
	return nil
}

func (d *fakeDirectory) DeleteRoleAssignment(_ context.Context, id string) error {
	return d.note("assignment " + id)
}

func (d *fakeDirectory) RemoveEligible(_ context.Context, s graph.RoleSchedule, _ string) error {
	return d.note("eligible " + s.ID)
}

func (d *fakeDirectory) RemoveGroupMember(_ context.Context, groupID, _ string) error {
	return d.note("group " + groupID)
}

func TestRoleRemovalsRunConcurrentlyAndRecordInAFixedOrder(t *testing.T) {
	dir := &fakeDirectory{
		direct:    []graph.RoleAssignment{{ID: "a1", RoleDefinitionID: "r1", RoleName: "Exchange Administrator", DirectoryScopeID: "/"}, {ID: "a2", RoleDefinitionID: "r2", RoleName: "Custom", DirectoryScopeID: "/"}},
		eligible:  []graph.RoleSchedule{{ID: "e1", RoleDefinitionID: "r3", RoleName: "Security Administrator", DirectoryScopeID: "/"}},
		groups:    []graph.Group{{ID: "g1", DisplayName: "Helpdesk", IsAssignableToRole: true}, {ID: "g2", DisplayName: "Tier2", IsAssignableToRole: true}},
		groupRole: map[string][]graph.RoleAssignment{"g1": {{RoleName: "User Administrator"}}, "g2": {{RoleName: "Groups Administrator"}}},
	}
	want := []string{"Exchange Administrator (tenant-wide)", "Custom (tenant-wide)", "Security Administrator (tenant-wide)", "Helpdesk (g1)", "Tier2 (g2)"}
	for i := 0; i < 5; i++ { // several times: a lucky schedule must not hide a race on the order
		dir.removed = nil
		out := (&Runner{Directory: dir}).Run(context.Background(), RemoveAdminRoles, Input{Target: Target{ID: "u1"}})
		if out.Status != runs.StepSucceeded || fmt.Sprint(targets(out.Changes)) != fmt.Sprint(want) {
			t.Fatalf("run %d: %s %v, want succeeded %v", i, out.Status, targets(out.Changes), want)
		}
		if len(dir.removed) != len(want) {
			t.Fatalf("run %d: %d removals made, want %d: %v", i, len(dir.removed), len(want), dir.removed)
		}
	}
}

// refusingLocker never grants the lock (storage unreachable, or held by a hung run).
type refusingLocker struct{}

func (refusingLocker) Hold(context.Context, string, string, time.Duration) (runs.Lease, error) {
	return nil, runs.ErrUnavailable
}

func TestGlobalAdministratorIsNotRemovedWithoutTheLock(t *testing.T) {
	dir := &fakeDirectory{direct: []graph.RoleAssignment{
		{ID: "ga", RoleDefinitionID: GlobalAdministratorTemplateID, RoleName: "Global Administrator", DirectoryScopeID: "/"},
		{ID: "ex", RoleDefinitionID: "r1", RoleName: "Exchange Administrator", DirectoryScopeID: "/"},
	}}
	out := (&Runner{Directory: dir, Locker: refusingLocker{}}).Run(context.Background(), RemoveAdminRoles, Input{Target: Target{ID: "u1"}, RunID: "r1"})
	if out.Status != runs.StepFailed || !out.Transient || out.Error == nil || out.Error.Code != "lock_busy" {
		t.Fatalf("%+v", out)
	}
	if len(dir.removed) != 0 {
		t.Fatalf("removed %v without the lock", dir.removed)
	}
	// A dry run removes nothing, so it needs no lock (it counts without it).
	out = (&Runner{Directory: noOtherAdmins{dir}, Locker: refusingLocker{}}).Run(context.Background(), RemoveAdminRoles, Input{Target: Target{ID: "u1"}, DryRun: true})
	if out.Status != runs.StepActionRequired || len(dir.removed) != 0 {
		t.Fatalf("dry run: %+v", out)
	}
}

// noOtherAdmins answers the Global Administrator count with nobody.
type noOtherAdmins struct{ *fakeDirectory }

func (noOtherAdmins) RoleAssignmentsForRole(context.Context, string) ([]graph.RoleAssignment, error) {
	return nil, nil
}
