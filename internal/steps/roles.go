package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// GlobalAdministratorTemplateID is the template id (and built-in role definition id) of the
// Global Administrator role.
const GlobalAdministratorTemplateID = graph.GlobalAdministratorTemplateID

// Kinds of role grant that remove-admin-roles removes and restore-admin-roles re-grants.
const (
	GrantDirect   = "direct"       // active assignment in roleManagement/directory/roleAssignments
	GrantEligible = "pim_eligible" // PIM eligible schedule
	GrantActive   = "pim_active"   // PIM active schedule
	GrantGroup    = "group_member" // membership in a role-assignable group that holds roles
	// GrantGroupEligible is an eligible membership (PIM for Groups) of a role-assignable
	// group that holds roles: the user could activate the membership and its roles.
	GrantGroupEligible = "pim_group_eligible"
)

// RoleGrant is what restore-admin-roles needs to re-grant a removed role (Change.Restore).
type RoleGrant struct {
	Kind             string     `json:"kind"`
	PrincipalID      string     `json:"principalId"`
	RoleDefinitionID string     `json:"roleDefinitionId,omitempty"`
	RoleName         string     `json:"roleName,omitempty"`
	DirectoryScopeID string     `json:"directoryScopeId,omitempty"`
	GroupID          string     `json:"groupId,omitempty"`
	GroupName        string     `json:"groupName,omitempty"`
	End              *time.Time `json:"endDateTime,omitempty"`
	NoExpiration     bool       `json:"noExpiration,omitempty"`
}

type roleHoldings struct {
	direct   []graph.RoleAssignment
	eligible []graph.RoleSchedule // the user's own (memberType Direct) only
	active   []graph.RoleSchedule // the user's own (memberType Direct) only
	groups   []groupRoles
	// groupEligible are eligible memberships (PIM for Groups) of groups that hold roles.
	groupEligible []groupEligibility

	// pimUnavailable: the tenant has no PIM licence (Entra ID P2 / ID Governance), so
	// there are no eligible or scheduled assignments to read.
	pimUnavailable bool
	// groupPIMUnreadable says why eligible group memberships (PIM for Groups) could not be
	// read: the identity may lack PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup, or
	// the service may not offer the API. Directory roles are removed all the same.
	groupPIMUnreadable string
	// inherited counts PIM schedules the user holds through a group (memberType Group or
	// Inherited): not the user's own to remove; the group membership is.
	inherited int
}

type groupEligibility struct {
	eligibility graph.GroupEligibility
	roles       []string
}

type groupRoles struct {
	group graph.Group
	roles []string
	// globalAdmin: the group holds Global Administrator actively, so removing a member
	// from it is a Global Administrator removal.
	globalAdmin bool
}

// ownSchedules keeps the schedules that are the principal's own (memberType Direct; an
// absent memberType is read as Direct) and counts the others.
func ownSchedules(all []graph.RoleSchedule) (own []graph.RoleSchedule, inherited int) {
	for _, s := range all {
		if s.MemberType == "" || strings.EqualFold(s.MemberType, "Direct") {
			own = append(own, s)
		} else {
			inherited++
		}
	}
	return own, inherited
}

// readRoles reads what the user holds: its own assignments and schedules, its role-assignable
// groups, then (a second round) each group's roles. ownRead, when not nil, is called with
// the first round's own holdings before the second round starts, so a caller can begin
// what depends only on them (remove-admin-roles' Global Administrator check).
func (r *Runner) readRoles(ctx context.Context, userID string, ownRead ...func(roleHoldings)) (roleHoldings, error) {
	var h roleHoldings
	var groups []graph.Group
	var unlicensed atomic.Bool
	// A tenant without a PIM licence answers the schedule listings 400
	// AadPremiumLicenseRequired: it has no schedules, which is not a failure.
	pim := func(list func() ([]graph.RoleSchedule, error)) ([]graph.RoleSchedule, error) {
		found, err := list()
		if graph.IsPIMUnavailable(err) {
			unlicensed.Store(true)
			return nil, nil
		}
		return found, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { h.direct, err = r.Directory.RoleAssignments(gctx, userID); return err })
	g.Go(func() (err error) {
		h.eligible, err = pim(func() ([]graph.RoleSchedule, error) { return r.Directory.EligibleSchedules(gctx, userID) })
		return err
	})
	g.Go(func() (err error) {
		h.active, err = pim(func() ([]graph.RoleSchedule, error) { return r.Directory.ActiveSchedules(gctx, userID) })
		return err
	})
	g.Go(func() (err error) { groups, err = r.Directory.RoleAssignableGroups(gctx, userID); return err })
	var groupEligible []graph.GroupEligibility
	g.Go(func() error {
		found, err := r.Directory.GroupEligibilities(gctx, userID)
		if graph.IsPIMUnavailable(err) {
			unlicensed.Store(true)
			return nil
		}
		if err != nil && !isTransient(err) {
			// PIM for Groups needs a permission of its own and is not in every cloud: a
			// refusal must not stop the removal of the directory roles themselves.
			h.groupPIMUnreadable = explain("read eligible group memberships (PIM for Groups)", err).Message
			return nil
		}
		for _, e := range found {
			if e.MemberType == "" || strings.EqualFold(e.MemberType, "direct") {
				groupEligible = append(groupEligible, e)
			}
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return h, err
	}
	var n int
	h.eligible, n = ownSchedules(h.eligible)
	h.inherited += n
	h.active, n = ownSchedules(h.active)
	h.inherited += n
	for _, f := range ownRead {
		f(h)
	}

	// A role-assignable group matters only when it carries roles. Each group's active and
	// eligible roles are read concurrently (2 calls per group, all independent); the groups
	// keep the listing's order so the recorded changes come out the same every time.
	var assignable []graph.Group
	for _, grp := range groups {
		if grp.IsAssignableToRole {
			assignable = append(assignable, grp)
		}
	}
	// A group the user is only eligible for is read the same way; only a group that holds
	// roles (so is role-assignable) makes the eligibility a role grant.
	members := len(assignable)
	for _, e := range groupEligible {
		assignable = append(assignable, graph.Group{ID: e.GroupID})
	}
	assigned := make([][]graph.RoleAssignment, len(assignable))
	eligible := make([][]graph.RoleSchedule, len(assignable))
	errs := callEach(2*len(assignable), func(i int) (err error) {
		grp := assignable[i/2]
		if i%2 == 0 {
			assigned[i/2], err = r.Directory.RoleAssignments(ctx, grp.ID)
		} else {
			eligible[i/2], err = pim(func() ([]graph.RoleSchedule, error) { return r.Directory.EligibleSchedules(ctx, grp.ID) })
		}
		return err
	})
	if err := firstError(errs); err != nil {
		return h, err
	}
	h.pimUnavailable = unlicensed.Load()
	for i, grp := range assignable {
		if i >= members {
			var roles []string
			for _, a := range assigned[i] {
				roles = append(roles, roleLabel(a.RoleName, a.RoleDefinitionID))
			}
			for _, e := range eligible[i] {
				roles = append(roles, roleLabel(e.RoleName, e.RoleDefinitionID)+" (eligible)")
			}
			if len(roles) > 0 {
				h.groupEligible = append(h.groupEligible, groupEligibility{eligibility: groupEligible[i-members], roles: roles})
			}
			continue
		}
		gr := groupRoles{group: grp}
		for _, a := range assigned[i] {
			gr.roles = append(gr.roles, roleLabel(a.RoleName, a.RoleDefinitionID))
			gr.globalAdmin = gr.globalAdmin || isGlobalAdmin(a.RoleDefinitionID, a.TemplateID)
		}
		for _, e := range eligible[i] {
			gr.roles = append(gr.roles, roleLabel(e.RoleName, e.RoleDefinitionID)+" (eligible)")
		}
		if len(gr.roles) > 0 {
			h.groups = append(h.groups, gr)
		}
	}
	return h, nil
}

func isGlobalAdmin(roleDefinitionID, templateID string) bool {
	return strings.EqualFold(roleDefinitionID, GlobalAdministratorTemplateID) || strings.EqualFold(templateID, GlobalAdministratorTemplateID)
}

// otherGlobalAdmin reports whether someone other than userID can still act as Global
// Administrator: an enabled user holding the role actively (an active assignment; PIM
// active schedules appear among them), directly or as an enabled member of a
// role-assignable group that holds it. Service principals (neither a user nor a group),
// disabled users and groups without another enabled member do not count: none of them is
// a person who can sign in and recover the tenant.
func (r *Runner) otherGlobalAdmin(ctx context.Context, userID string) (bool, error) {
	holders, err := r.Directory.RoleAssignmentsForRole(ctx, GlobalAdministratorTemplateID)
	if err != nil {
		return false, err
	}
	return r.otherGlobalAdminAmong(ctx, holders, userID)
}

// otherGlobalAdminAmong answers otherGlobalAdmin from a listing of the role's assignments.
// It stops at the first one found; a principal the listing expanded as an enabled user
// needs no further read.
func (r *Runner) otherGlobalAdminAmong(ctx context.Context, holders []graph.RoleAssignment, userID string) (bool, error) {
	seen := map[string]bool{}
	for _, a := range holders {
		principal := strings.ToLower(a.PrincipalID)
		if principal == "" || seen[principal] || strings.EqualFold(principal, userID) || !graph.ValidID(principal) {
			continue
		}
		seen[principal] = true
		users, err := r.holderUsers(ctx, a)
		if err != nil {
			return false, err
		}
		for _, u := range users {
			if !strings.EqualFold(u.ID, userID) {
				return true, nil
			}
		}
	}
	return false, nil
}

// holderUsers resolves the principal of a role assignment to the enabled user accounts it
// stands for: the user itself, or a group's enabled members (only object ids filled in).
// The listing's expanded principal spares a read of a user; without it (not expanded, or
// accountEnabled absent) the principal is read as a user, then as a group. A service
// principal, or an object not found as either, stands for no one.
func (r *Runner) holderUsers(ctx context.Context, a graph.RoleAssignment) ([]graph.User, error) {
	principal := strings.ToLower(a.PrincipalID)
	p := a.Principal
	switch {
	case p != nil && p.Kind == graph.PrincipalUser && p.AccountEnabled != nil:
		if !*p.AccountEnabled {
			return nil, nil
		}
		return []graph.User{{ID: principal, UserPrincipalName: p.UserPrincipalName, AccountEnabled: true}}, nil
	case p != nil && p.Kind == graph.PrincipalServicePrincipal:
		return nil, nil
	case p == nil || p.Kind != graph.PrincipalGroup:
		user, err := r.Directory.GetUser(ctx, principal)
		if err == nil {
			if user.AccountEnabled {
				return []graph.User{user}, nil
			}
			return nil, nil
		}
		if !graph.IsNotFound(err) {
			return nil, err
		}
	}
	members, err := r.Directory.GroupUsers(ctx, principal)
	if err != nil && !graph.IsNotFound(err) {
		return nil, err
	}
	var users []graph.User
	for _, m := range members {
		if m.AccountEnabled {
			users = append(users, graph.User{ID: m.ID, AccountEnabled: true})
		}
	}
	return users, nil // none when not a group either: a service principal, or deleted since
}

// HoldsGlobalAdminQuick answers whether a user (by object id or UPN, as a caller named it)
// holds Global Administrator actively, directly or through a group, with two requests that
// need nothing of each other: the role's assignments and the user's groups. The lockout guard
// asks it beside the user's own lookup, so a run for an ordinary user waits no longer for
// it; the answer for a user who does hold the role is taken again on a full listing.
func (r *Runner) HoldsGlobalAdminQuick(ctx context.Context, user string) (principals map[string]bool, groups []string, err error) {
	var (
		holders []graph.RoleAssignment
		member  []graph.Group
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		holders, err = r.Directory.RoleAssignmentsForRole(gctx, GlobalAdministratorTemplateID)
		return err
	})
	g.Go(func() (err error) { member, err = r.Directory.RoleAssignableGroups(gctx, user); return err })
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	principals = map[string]bool{}
	for _, a := range holders {
		principals[strings.ToLower(a.PrincipalID)] = true
	}
	for _, grp := range member {
		groups = append(groups, strings.ToLower(grp.ID))
	}
	return principals, groups, nil
}

// GlobalAdminAmong reports whether a user holds Global Administrator, given the role's
// principals (lower-case object ids) and the user's groups (HoldsGlobalAdminQuick).
func GlobalAdminAmong(principals map[string]bool, groups []string, userID string) bool {
	if principals[strings.ToLower(userID)] {
		return true
	}
	for _, g := range groups {
		if principals[strings.ToLower(g)] {
			return true
		}
	}
	return false
}

// GlobalAdmins lists the enabled user accounts that can act as Global Administrator now:
// active holders of the role (an active assignment; PIM active schedules appear among them)
// directly, or as enabled members of a role-assignable group that holds it. Service
// principals, disabled users and empty groups are no one who can sign in and recover the
// tenant, as in otherGlobalAdmin. Only object ids are filled in for members of groups.
// The principals are resolved concurrently: the lockout guard asks this before a run that
// resets, blocks or strips a Global Administrator is recorded.
func (r *Runner) GlobalAdmins(ctx context.Context) ([]graph.User, error) {
	holders, err := r.Directory.RoleAssignmentsForRole(ctx, GlobalAdministratorTemplateID)
	if err != nil {
		return nil, err
	}
	var principals []graph.RoleAssignment
	seen := map[string]bool{}
	for _, a := range holders {
		p := strings.ToLower(a.PrincipalID)
		if p != "" && !seen[p] && graph.ValidID(p) {
			seen[p] = true
			principals = append(principals, a)
		}
	}
	found := make([][]graph.User, len(principals))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, a := range principals {
		g.Go(func() (err error) {
			found[i], err = r.holderUsers(gctx, a)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []graph.User
	users := map[string]bool{}
	for _, list := range found {
		for _, u := range list {
			if id := strings.ToLower(u.ID); !users[id] {
				users[id] = true
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// globalAdminLock names the tenant-wide lock around counting and removing Global
// Administrators; globalAdminLockTTL bounds how long a dead holder blocks the others.
const (
	globalAdminLock    = "global-administrator-removal"
	globalAdminLockTTL = 30 * time.Second
)

// globalAdminSettle bounds how long a run that removed Global Administrator keeps the
// lock waiting for the directory to show the removal.
const globalAdminSettle = 10 * time.Second

// awaitGlobalAdminGone keeps the lock until the directory's listings no longer show the
// user as Global Administrator. Graph is eventually consistent: a run that counts right
// after this one must not still see the role this run has just removed and take it for
// another Global Administrator. It gives up quietly after globalAdminSettle.
//
// It returns the role's assignments as last read once the role is gone (nil when it gave
// up): the recount after the removal starts from them instead of reading them again.
func (r *Runner) awaitGlobalAdminGone(ctx context.Context, userID string, groups []string) []graph.RoleAssignment {
	deadline := time.Now().Add(globalAdminSettle)
	for {
		if holders, gone := r.globalAdminGone(ctx, userID, groups); gone {
			return holders
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (r *Runner) globalAdminGone(ctx context.Context, userID string, groups []string) ([]graph.RoleAssignment, bool) {
	holders, err := r.Directory.RoleAssignmentsForRole(ctx, GlobalAdministratorTemplateID)
	if err != nil {
		return nil, false
	}
	for _, a := range holders {
		if strings.EqualFold(a.PrincipalID, userID) {
			return nil, false
		}
	}
	for _, g := range groups {
		members, err := r.Directory.GroupUsers(ctx, g)
		if err != nil && !graph.IsNotFound(err) {
			return nil, false
		}
		for _, m := range members {
			if strings.EqualFold(m.ID, userID) {
				return nil, false
			}
		}
	}
	return holders, true
}

// lockGlobalAdmins takes the Global Administrator lock when the runner has a Locker. The
// lease is renewed while held; the step asks it before each change.
func (r *Runner) lockGlobalAdmins(ctx context.Context, holder string) (runs.Lease, error) {
	if r.Locker == nil {
		return noLease{}, nil
	}
	ttl := r.GlobalAdminLockTTL
	if ttl <= 0 {
		ttl = globalAdminLockTTL
	}
	return r.Locker.Hold(ctx, globalAdminLock, holder, ttl)
}

// noLease stands for the lock of a runner without a Locker (tests of a single run).
type noLease struct{}

func (noLease) Held() error { return nil }
func (noLease) Release()    {}

// lockLost is the outcome of a step whose Global Administrator lock was lost before it
// acted (or finished acting): what it did not do yet is not done, and it is tried again.
func lockLost(step string, err error, changes []runs.Change) Outcome {
	return Outcome{Status: runs.StepFailed, Transient: true, Changes: changes, Error: &runs.Error{Code: "lock_lost",
		Message: step + ": the tenant-wide Global Administrator lock was no longer certainly held (" + err.Error() + "), so the changes it guards were not made; the step will be retried"}}
}

// recountTries bounds how often a step asks again who else holds Global Administrator
// after its own change, when the directory does not answer.
const recountTries = 3

// otherGlobalAdminAfter counts again, after a change, whether another enabled Global
// Administrator remains. A read that fails is tried again a few times: the answer decides
// whether the change is undone at once.
// holders, when not nil, is a listing of the role's assignments read after the change
// (awaitGlobalAdminGone's): the first count starts from it.
func (r *Runner) otherGlobalAdminAfter(ctx context.Context, userID string, holders []graph.RoleAssignment) (bool, error) {
	var err error
	for try := 0; try < recountTries; try++ {
		var other bool
		if try == 0 && holders != nil {
			other, err = r.otherGlobalAdminAmong(ctx, holders, userID)
		} else {
			other, err = r.otherGlobalAdmin(ctx, userID)
		}
		if err == nil {
			return other, nil
		}
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(time.Duration(try+1) * 300 * time.Millisecond):
		}
	}
	return false, err
}

// globalAdminCheck is remove-admin-roles' Global Administrator check: the tenant-wide lock
// (real runs only) and, under it, whether another enabled Global Administrator remains. It
// runs beside the reads it does not depend on: it starts as soon as the user's own
// assignments show the role, while the user's groups' roles are still being read.
type globalAdminCheck struct {
	done    chan struct{}
	lease   runs.Lease
	lockErr error
	other   bool
	err     error
}

func (r *Runner) startGlobalAdminCheck(ctx context.Context, holder, userID string, dryRun bool) *globalAdminCheck {
	c := &globalAdminCheck{done: make(chan struct{}), lease: noLease{}}
	go func() {
		defer close(c.done)
		if !dryRun {
			held, err := r.lockGlobalAdmins(ctx, holder)
			if err != nil {
				c.lockErr = err
				return
			}
			c.lease = held
		}
		c.other, c.err = r.otherGlobalAdmin(ctx, userID)
	}()
	return c
}

// wait returns the check once it has ended.
func (c *globalAdminCheck) wait() *globalAdminCheck {
	<-c.done
	return c
}

// ownGlobalAdmin reports whether the user's own assignments or active schedules (the first
// round of readRoles) give Global Administrator.
func ownGlobalAdmin(h roleHoldings) bool {
	for _, a := range h.direct {
		if isGlobalAdmin(a.RoleDefinitionID, a.TemplateID) {
			return true
		}
	}
	for _, s := range h.active {
		if isGlobalAdmin(s.RoleDefinitionID, "") {
			return true
		}
	}
	return false
}

func (r *Runner) removeAdminRoles(ctx context.Context, in Input) Outcome {
	userID := in.Target.ID
	holder := in.RunID
	if holder == "" {
		holder = "user " + userID
	}
	// Removing Global Administrator happens one run at a time in the whole tenant, and the
	// count is made under the lock: two runs on the last two Global Administrators then
	// see each other's removal, and the second keeps its role. The lock is held until the
	// removals below are done.
	var check *globalAdminCheck
	h, err := r.readRoles(ctx, userID, func(own roleHoldings) {
		if ownGlobalAdmin(own) {
			check = r.startGlobalAdminCheck(ctx, holder, userID, in.DryRun)
		}
	})
	if err != nil {
		if check != nil {
			check.wait().lease.Release()
		}
		return fail("remove-admin-roles: read role assignments", err, nil)
	}
	justification := "Tourniquet remediation of a compromised account"
	if in.RunID != "" {
		justification += " (run " + in.RunID + ")"
	}

	// Active PIM schedules also show up as role assignments; they are removed through a
	// schedule request, so the matching plain assignment is left to that.
	scheduled := map[string]bool{}
	for _, s := range h.active {
		scheduled[strings.ToLower(s.RoleDefinitionID+"|"+s.DirectoryScopeID)] = true
	}
	var direct []graph.RoleAssignment
	holdsGlobalAdmin := ownGlobalAdmin(h)
	for _, a := range h.direct {
		if !scheduled[strings.ToLower(a.RoleDefinitionID+"|"+a.DirectoryScopeID)] {
			direct = append(direct, a)
		}
	}
	for _, gr := range h.groups {
		holdsGlobalAdmin = holdsGlobalAdmin || gr.globalAdmin
	}
	var lease runs.Lease = noLease{}
	if holdsGlobalAdmin {
		if check == nil { // the role comes through a group only
			check = r.startGlobalAdminCheck(ctx, holder, userID, in.DryRun)
		}
		if check.wait().lockErr != nil {
			return Outcome{Status: runs.StepFailed, Transient: true, Error: &runs.Error{Code: "lock_busy",
				Message: "remove-admin-roles: could not take the tenant-wide Global Administrator lock (" + check.lockErr.Error() + "); nothing was removed, the step will be retried"}}
		}
		defer check.lease.Release()
		lease = check.lease
	}

	var (
		changes []runs.Change
		keep    []string
	)
	// keepGlobalAdmin decides, once, whether removing Global Administrator would leave the
	// tenant without one (the count under the lock, above).
	// When the directory refuses the count outright (a permanent error), Global
	// Administrator is kept and a person is asked: the tenant's last way in is never bet on a
	// guess. A transient error fails the step, so it is retried.
	var (
		lastGA     *bool
		unverified string
	)
	keepGlobalAdmin := func() (bool, error) {
		if lastGA == nil {
			other, err := check.other, check.err
			if err != nil && isTransient(err) {
				return false, err
			}
			last := !other
			if err != nil {
				last, unverified = true, explain("count Global Administrators", err).Message
			}
			lastGA = &last
		}
		return *lastGA, nil
	}
	// Decide first (the Global Administrator check is the only read), then remove every
	// grant concurrently: each removal is its own call on its own object.
	type removal struct {
		change      runs.Change
		what        string // for the error message
		do          func() error
		globalAdmin bool // gives Global Administrator up
	}
	var plan []removal
	// What of Global Administrator this run removes: checked before the lock is released.
	var (
		removesGlobalAdmin bool
		globalAdminGroups  []string
	)

	for _, a := range direct {
		if isGlobalAdmin(a.RoleDefinitionID, a.TemplateID) {
			last, err := keepGlobalAdmin()
			if err != nil {
				return fail("remove-admin-roles: count Global Administrators", err, nil)
			}
			if last {
				keep = append(keep, roleLabel(a.RoleName, a.RoleDefinitionID))
				continue
			}
			removesGlobalAdmin = true
		}
		c := runs.Change{
			Action: "role_assignment_removed", Target: roleTarget(roleLabel(a.RoleName, a.RoleDefinitionID), a.DirectoryScopeID),
			Before:  map[string]any{"id": a.ID, "roleDefinitionId": a.RoleDefinitionID, "roleName": a.RoleName, "directoryScopeId": a.DirectoryScopeID, "isBuiltIn": a.BuiltIn, "kind": GrantDirect},
			Reasons: []string{"active directory role assignment of a compromised account"},
			Restore: RoleGrant{Kind: GrantDirect, PrincipalID: userID, RoleDefinitionID: a.RoleDefinitionID, RoleName: a.RoleName, DirectoryScopeID: a.DirectoryScopeID},
		}
		plan = append(plan, removal{c, "remove " + a.RoleName, func() error { return r.Directory.DeleteRoleAssignment(ctx, a.ID) }, isGlobalAdmin(a.RoleDefinitionID, a.TemplateID)})
	}
	for _, s := range h.active {
		if isGlobalAdmin(s.RoleDefinitionID, "") {
			last, err := keepGlobalAdmin()
			if err != nil {
				return fail("remove-admin-roles: count Global Administrators", err, nil)
			}
			if last {
				keep = append(keep, roleLabel(s.RoleName, s.RoleDefinitionID))
				continue
			}
			removesGlobalAdmin = true
		}
		c := scheduleChange("active_assignment_removed", GrantActive, userID, s)
		plan = append(plan, removal{c, "remove active PIM assignment " + s.RoleName, func() error { return r.Directory.RemoveActive(ctx, s, justification) }, isGlobalAdmin(s.RoleDefinitionID, "")})
	}
	for _, s := range h.eligible {
		c := scheduleChange("eligible_assignment_removed", GrantEligible, userID, s)
		plan = append(plan, removal{c, "remove eligible PIM assignment " + s.RoleName, func() error { return r.Directory.RemoveEligible(ctx, s, justification) }, false})
	}
	for _, gr := range h.groups {
		// Leaving a group that holds Global Administrator gives the role up as surely as
		// losing a direct assignment: the same guard applies.
		if gr.globalAdmin {
			last, err := keepGlobalAdmin()
			if err != nil {
				return fail("remove-admin-roles: count Global Administrators", err, nil)
			}
			if last {
				keep = append(keep, "membership of "+gr.group.DisplayName+" (Global Administrator)")
				continue
			}
			removesGlobalAdmin = true
			globalAdminGroups = append(globalAdminGroups, gr.group.ID)
		}
		c := runs.Change{
			Action: "group_membership_removed", Target: gr.group.DisplayName + " (" + gr.group.ID + ")",
			Before:  map[string]any{"groupId": gr.group.ID, "groupName": gr.group.DisplayName, "roles": gr.roles, "kind": GrantGroup},
			Reasons: []string{"member of a role-assignable group that holds: " + strings.Join(gr.roles, ", ")},
			Restore: RoleGrant{Kind: GrantGroup, PrincipalID: userID, GroupID: gr.group.ID, GroupName: gr.group.DisplayName},
		}
		plan = append(plan, removal{c, "remove from group " + gr.group.DisplayName, func() error { return r.Directory.RemoveGroupMember(ctx, gr.group.ID, userID) }, gr.globalAdmin})
	}

	for _, ge := range h.groupEligible {
		e := ge.eligibility
		c := runs.Change{
			Action: "group_eligibility_removed", Target: "eligible membership of group " + e.GroupID,
			Before: map[string]any{"id": e.ID, "groupId": e.GroupID, "roles": ge.roles, "memberType": e.MemberType,
				"startDateTime": e.Start, "endDateTime": e.End, "noExpiration": e.NoExpiration, "kind": GrantGroupEligible},
			Reasons: []string{"eligible (PIM for Groups) for membership of a role-assignable group that holds: " + strings.Join(ge.roles, ", ")},
			Restore: RoleGrant{Kind: GrantGroupEligible, PrincipalID: userID, GroupID: e.GroupID, End: e.End, NoExpiration: e.NoExpiration},
		}
		plan = append(plan, removal{c, "remove eligible membership of group " + e.GroupID, func() error { return r.Directory.RemoveGroupEligibility(ctx, e, justification) }, false})
	}

	errs := make([]error, len(plan))
	if !in.DryRun {
		if stop := recordBeforeActing(ctx, "remove-admin-roles", in, changesOf(plan, func(p removal) runs.Change { return p.change })); stop != nil {
			return *stop
		}
		// Each removal asks the lease first: one that would run after the lock was lost (not
		// renewed in time, taken over) is not made.
		errs = callEach(len(plan), func(i int) error {
			if err := lease.Held(); err != nil {
				return err
			}
			return plan[i].do()
		})
	}
	// Record every removal that happened (a grant already gone counts: the goal holds), in
	// the order above, even when another failed: a retry then finds them done.
	var firstErr, lostErr error
	var failedWhat string
	var globalAdminDone []runs.Change
	for i, p := range plan {
		if err := errs[i]; err != nil && !graph.IsNotFound(err) {
			if errors.Is(err, runs.ErrLockLost) {
				lostErr = err
			} else if firstErr == nil {
				firstErr, failedWhat = err, p.what
			}
			continue
		}
		changes = append(changes, p.change)
		if p.globalAdmin && !in.DryRun {
			globalAdminDone = append(globalAdminDone, p.change)
		}
	}
	var holdersAfter []graph.RoleAssignment
	if removesGlobalAdmin && !in.DryRun && firstErr == nil && lostErr == nil {
		holdersAfter = r.awaitGlobalAdminGone(ctx, userID, globalAdminGroups)
	}
	// Count again: a change the lock could not catch (another admin disabled or demoted the
	// other Global Administrator meanwhile) may have left the tenant without one. Then what
	// this run just removed is granted back at once.
	var grantedBack *Outcome
	if len(globalAdminDone) > 0 {
		grantedBack = r.grantBackIfLast(ctx, userID, in, globalAdminDone, &changes, holdersAfter)
	}
	switch {
	case grantedBack != nil:
		if firstErr != nil {
			grantedBack.Message = joinNotes(grantedBack.Message, "Also, "+explain("remove-admin-roles: "+failedWhat, firstErr).Message+"; run remove-admin-roles again once another Global Administrator exists.")
		}
		grantedBack.Message = joinNotes(grantedBack.Message, holdingsNotes(h)...)
		return *grantedBack
	case firstErr != nil:
		return fail("remove-admin-roles: "+failedWhat, firstErr, changes)
	case lostErr != nil:
		return lockLost("remove-admin-roles", lostErr, changes)
	}

	out := Outcome{Status: runs.StepSucceeded, Changes: changes}
	switch {
	case len(keep) > 0 && unverified != "":
		out.Status = runs.StepActionRequired
		out.Message = fmt.Sprintf("kept %s: could not verify that another active Global Administrator exists (%s). Check by hand, then run remove-admin-roles again.", strings.Join(keep, ", "), unverified)
	case len(keep) > 0:
		out.Status = runs.StepActionRequired
		out.Message = fmt.Sprintf("kept %s: the account is the tenant's last active Global Administrator (no other enabled user holds the role, directly or through a group), and removing it would lock the tenant out. Assign Global Administrator to another (break-glass) account, then run remove-admin-roles again.", strings.Join(keep, ", "))
	case len(changes) == 0:
		out.Status = runs.StepNoChange
		out.Message = "the account holds no directory roles"
	case in.DryRun:
		out.Status = runs.StepPlanned
	}
	out.Message = joinNotes(out.Message, holdingsNotes(h)...)
	return out
}

// grantBackIfLast counts the Global Administrators again after remove-admin-roles removed
// the role (done) and, when no other enabled one remains, grants done back at once and
// drops it from changes (it is no longer removed, so there is nothing to restore). It
// answers the step's outcome then (action_required), or nil when another Global
// Administrator remains.
func (r *Runner) grantBackIfLast(ctx context.Context, userID string, in Input, done []runs.Change, changes *[]runs.Change, holders []graph.RoleAssignment) *Outcome {
	var targets []string
	for _, c := range done {
		targets = append(targets, c.Target)
	}
	what := strings.Join(targets, ", ")
	other, err := r.otherGlobalAdminAfter(ctx, userID, holders)
	if err != nil {
		return &Outcome{Status: runs.StepActionRequired, Changes: *changes, Message: "removed " + what + ", but could not count the Global Administrators again afterwards (" +
			explain("count Global Administrators", err).Message + "). Check now that another enabled account holds Global Administrator; if none does, restore this run's remove-admin-roles."}
	}
	if other {
		return nil
	}
	var failed []string
	for _, c := range done {
		if err := r.grantBack(ctx, userID, c, in.RunID); err != nil {
			failed = append(failed, c.Target+" ("+explain("grant back", err).Message+")")
		}
	}
	if len(failed) > 0 {
		return &Outcome{Status: runs.StepActionRequired, Changes: *changes, Error: &runs.Error{Code: "last_global_admin_removed",
			Message: "removed " + what + " and then found no other enabled Global Administrator in the tenant; granting it back failed for " + strings.Join(failed, "; ") + ". Grant Global Administrator to an account you control now (restore this run's remove-admin-roles, or a break-glass account)."},
			Message: "the tenant may have no enabled Global Administrator: grant the role back now."}
	}
	kept := (*changes)[:0:0]
	for _, c := range *changes {
		if !slices.ContainsFunc(done, func(d runs.Change) bool { return d.Target == c.Target && d.Action == c.Action }) {
			kept = append(kept, c)
		}
	}
	for _, c := range done {
		kept = append(kept, runs.Change{Action: "granted_back", Target: c.Target, Before: c.Before, After: c.Restore,
			Reasons: []string{"no other enabled Global Administrator remained once it was removed; granted back at once so the tenant is not locked out"}})
	}
	*changes = kept
	return &Outcome{Status: runs.StepActionRequired, Changes: kept, Message: "removed " + what + ", then counted again and found no other enabled Global Administrator (one was disabled or lost the role meanwhile, outside this run), so it was granted back at once: the account still holds Global Administrator. Assign Global Administrator to another (break-glass) account, then run remove-admin-roles again."}
}

// grantBack re-creates one removal of remove-admin-roles at once, without reading first
// (the directory may still list it as present for a while).
func (r *Runner) grantBack(ctx context.Context, userID string, c runs.Change, runID string) error {
	var grant RoleGrant
	raw, _ := json.Marshal(c.Restore)
	if err := json.Unmarshal(raw, &grant); err != nil || grant.Kind == "" {
		return fmt.Errorf("the change records no grant to give back")
	}
	return r.applyGrant(ctx, userID, grant, "Tourniquet: the tenant's last Global Administrator, granted back (run "+runID+")")
}

// applyGrant makes one grant of remove-admin-roles' record for userID.
func (r *Runner) applyGrant(ctx context.Context, userID string, grant RoleGrant, justification string) error {
	sched := graph.RoleSchedule{PrincipalID: userID, RoleDefinitionID: grant.RoleDefinitionID, RoleName: grant.RoleName, DirectoryScopeID: grant.DirectoryScopeID, End: grant.End, NoExpiration: grant.NoExpiration}
	switch grant.Kind {
	case GrantDirect:
		_, err := r.Directory.CreateRoleAssignment(ctx, userID, grant.RoleDefinitionID, grant.DirectoryScopeID)
		return err
	case GrantActive:
		return r.Directory.GrantActive(ctx, sched, justification)
	case GrantEligible:
		return r.Directory.GrantEligible(ctx, sched, justification)
	case GrantGroup:
		return r.Directory.AddGroupMember(ctx, grant.GroupID, userID)
	case GrantGroupEligible:
		return r.Directory.GrantGroupEligibility(ctx, graph.GroupEligibility{PrincipalID: userID, GroupID: grant.GroupID, End: grant.End, NoExpiration: grant.NoExpiration}, justification)
	}
	return errUnknownGrant
}

var errUnknownGrant = errors.New("unknown kind of grant")

// holdingsNotes tells the analyst what the step could not see or deliberately left.
func holdingsNotes(h roleHoldings) []string {
	var notes []string
	if h.pimUnavailable {
		notes = append(notes, "PIM is not available in this tenant (no Microsoft Entra ID P2 or ID Governance licence): there are no eligible or PIM-scheduled assignments; active assignments and role-assignable group memberships were checked.")
	}
	if h.groupPIMUnreadable != "" {
		notes = append(notes, "Eligible group memberships (PIM for Groups) were not checked: "+h.groupPIMUnreadable)
	}
	if h.inherited > 0 {
		notes = append(notes, fmt.Sprintf("%d PIM schedule(s) held through a group were not removed on their own: they go with the group membership.", h.inherited))
	}
	return notes
}

func joinNotes(message string, notes ...string) string {
	parts := append([]string{}, notes...)
	if message != "" {
		parts = append([]string{message}, parts...)
	}
	return strings.Join(parts, " ")
}

// roleLabel names a role for the record: its display name, or its definition id when the
// directory did not expand the definition.
func roleLabel(name, definitionID string) string {
	if name != "" {
		return name
	}
	return "role " + definitionID
}

func roleTarget(role, scope string) string {
	if scope == "" || scope == "/" {
		return role + " (tenant-wide)"
	}
	return role + " (scope " + scope + ")"
}

func scheduleChange(action, kind, userID string, s graph.RoleSchedule) runs.Change {
	grant := RoleGrant{Kind: kind, PrincipalID: userID, RoleDefinitionID: s.RoleDefinitionID, RoleName: s.RoleName, DirectoryScopeID: s.DirectoryScopeID, End: s.End, NoExpiration: s.NoExpiration}
	return runs.Change{
		Action: action, Target: roleTarget(roleLabel(s.RoleName, s.RoleDefinitionID), s.DirectoryScopeID),
		Before: map[string]any{"id": s.ID, "roleDefinitionId": s.RoleDefinitionID, "roleName": s.RoleName, "directoryScopeId": s.DirectoryScopeID,
			"memberType": s.MemberType, "assignmentType": s.AssignmentType, "startDateTime": s.Start, "endDateTime": s.End, "noExpiration": s.NoExpiration, "kind": kind},
		Reasons: []string{map[string]string{GrantActive: "active PIM role assignment", GrantEligible: "PIM eligible role assignment (could be activated by the attacker)"}[kind] + " of a compromised account"},
		Restore: grant,
	}
}

// RestoreAdminRoles re-grants what remove-admin-roles recorded in removed: the same role,
// scope and kind (eligible stays eligible). Grants that already exist are left alone, so the
// call is idempotent.
func (r *Runner) RestoreAdminRoles(ctx context.Context, userID string, removed []runs.Change, reason string) ([]runs.Change, error) {
	h, err := r.readRoles(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("read current roles: %w", err)
	}
	has := map[string]bool{}
	for _, a := range h.direct {
		has[GrantDirect+"|"+strings.ToLower(a.RoleDefinitionID+"|"+a.DirectoryScopeID)] = true
	}
	for _, s := range h.active {
		has[GrantActive+"|"+strings.ToLower(s.RoleDefinitionID+"|"+s.DirectoryScopeID)] = true
	}
	for _, s := range h.eligible {
		has[GrantEligible+"|"+strings.ToLower(s.RoleDefinitionID+"|"+s.DirectoryScopeID)] = true
	}
	groups, err := r.Directory.RoleAssignableGroups(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("read current groups: %w", err)
	}
	for _, g := range groups {
		has[GrantGroup+"|"+strings.ToLower(g.ID)] = true
	}
	for _, ge := range h.groupEligible {
		has[GrantGroupEligible+"|"+strings.ToLower(ge.eligibility.GroupID)] = true
	}
	justification := "Tourniquet restore: " + reason
	var changes []runs.Change
	for _, c := range removed {
		if c.Restore == nil {
			continue
		}
		var grant RoleGrant
		raw, _ := json.Marshal(c.Restore)
		if err := json.Unmarshal(raw, &grant); err != nil || grant.Kind == "" {
			continue
		}
		grant.PrincipalID = userID
		key := grant.Kind + "|" + strings.ToLower(grant.RoleDefinitionID+"|"+grant.DirectoryScopeID)
		if grant.Kind == GrantGroup || grant.Kind == GrantGroupEligible {
			key = grant.Kind + "|" + strings.ToLower(grant.GroupID)
		}
		change := runs.Change{Action: "restored", Target: c.Target, After: grant, Reasons: []string{"re-granted what run recorded as removed (" + c.Action + ")"}}
		if has[key] {
			change.Action = "already_present"
			changes = append(changes, change)
			continue
		}
		err = r.applyGrant(ctx, userID, grant, justification)
		if errors.Is(err, errUnknownGrant) {
			continue
		}
		if err != nil {
			return changes, fmt.Errorf("restore %s: %w", c.Target, err)
		}
		has[key] = true
		changes = append(changes, change)
	}
	return changes, nil
}
