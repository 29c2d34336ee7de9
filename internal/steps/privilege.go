package steps

import (
	"context"
	"fmt"
	"strings"
)

// DirectoryRoles lists, in words, every Entra directory role the user holds: active or PIM
// eligible, directly or through a role-assignable group (also an eligible membership of
// one). It reads exactly what remove-admin-roles reads and changes nothing; four-eyes
// approval (APPROVAL_MODE=admins) asks it whether a run strips an administrator.
//
// unread says what could not be read although the rest was: eligible group memberships
// (PIM for Groups) refused (a permission of its own, not in every cloud). remove-admin-roles
// carries on without them; approval must not take their absence for "no role".
func (r *Runner) DirectoryRoles(ctx context.Context, userID string) (roles []string, unread string, err error) {
	h, err := r.readRoles(ctx, userID)
	if err != nil {
		return nil, "", err
	}
	if h.groupPIMUnreadable != "" {
		unread = "eligible group memberships (PIM for Groups) could not be read (" + h.groupPIMUnreadable + ")"
	}
	var out []string
	for _, a := range h.direct {
		out = append(out, roleLabel(a.RoleName, a.RoleDefinitionID))
	}
	for _, s := range h.active {
		out = append(out, roleLabel(s.RoleName, s.RoleDefinitionID)+" (PIM active)")
	}
	for _, s := range h.eligible {
		out = append(out, roleLabel(s.RoleName, s.RoleDefinitionID)+" (PIM eligible)")
	}
	for _, g := range h.groups {
		out = append(out, fmt.Sprintf("%s (through group %s)", strings.Join(g.roles, ", "), groupLabel(g.group.DisplayName, g.group.ID)))
	}
	for _, g := range h.groupEligible {
		out = append(out, fmt.Sprintf("%s (through an eligible membership of group %s)", strings.Join(g.roles, ", "), g.eligibility.GroupID))
	}
	if len(out) == 0 && h.inherited > 0 {
		out = append(out, fmt.Sprintf("%d PIM role schedule(s) through a group", h.inherited))
	}
	return dedupe(out), unread, nil
}

func groupLabel(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// dedupe drops repeated labels (an active PIM role also shows up as an assignment), keeping
// the first of each.
func dedupe(labels []string) []string {
	seen := map[string]bool{}
	out := labels[:0]
	for _, l := range labels {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// ExchangeRoleGroups names the Exchange Online admin role groups the user is a direct member
// of (matched by object id, as remove-exchange-role-groups matches them), for
// APPROVAL_MODE=admins.
//
// unread names the groups whose members could not be read, each with why; a group whose
// membership follows an Entra role or is reserved for Microsoft (TenantAdmins_*,
// RIM-MailboxAdmins*: exchange.RoleGroup.ServiceManaged) is in managed instead, since its
// members are not Exchange's to grant: an Entra role is what DirectoryRoles reads. One such
// group does not make the whole answer an error.
func (r *Runner) ExchangeRoleGroups(ctx context.Context, user Target) (names, unread, managed []string, err error) {
	scan, err := r.roleGroupMemberships(ctx, user)
	if err != nil {
		return nil, nil, nil, err
	}
	names = make([]string, len(scan.groups))
	for i, g := range scan.groups {
		names[i] = g.Label()
	}
	for _, u := range scan.unreadable {
		if why, ok := u.group.ServiceManaged(); ok {
			managed = append(managed, u.group.Label()+" ("+why+")")
			continue
		}
		unread = append(unread, u.group.Label()+" ("+u.reason+")")
	}
	return names, unread, managed, nil
}
