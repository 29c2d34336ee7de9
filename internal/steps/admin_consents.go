package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// A compromised administrator can consent for the whole tenant (consentType AllPrincipals)
// or grant app roles (application permissions, or an application's roles to a user or group).
// revoke-app-consents finds those the user made in the look-back window through the
// directory audit log (activities initiated by the user), and reads what of them still
// exists.

// adminConsentActivities are the directory audit activities (activityDisplayName) by which
// an administrator grants an application access beyond their own.
var adminConsentActivities = map[string]adminActivity{
	"consent to application":                       consentActivity,
	"add delegated permission grant":               consentActivity,
	"add app role assignment to service principal": appRoleToServicePrincipal,
	"add app role assignment grant to user":        appRoleToUserOrGroup,
	"add app role assignment to group":             appRoleToUserOrGroup,
}

type adminActivity int

const (
	consentActivity adminActivity = iota + 1
	appRoleToServicePrincipal
	appRoleToUserOrGroup
)

// appRoleSlack is how far an assignment's createdDateTime may be from its audit record's
// time to be the one the record names.
const appRoleSlack = 10 * time.Minute

// AppRoleGrant is what restore needs to create a removed app role assignment again
// (Change.Restore).
type AppRoleGrant struct {
	PrincipalID   string `json:"principalId"`
	PrincipalType string `json:"principalType"`
	ResourceID    string `json:"resourceId"`
	AppRoleID     string `json:"appRoleId"`
}

// adminConsents are the tenant-wide grants and app role assignments the user made as an
// administrator that still exist.
type adminConsents struct {
	grants []graph.PermissionGrant
	roles  []graph.AppRoleAssignment
	// unread says what could not be looked at (the audit log or a listing refused): a
	// person must look.
	unread []string
}

func (a adminConsents) empty() bool { return len(a.grants) == 0 && len(a.roles) == 0 }

// consentWindow is the look-back of the run (options.investigate.days, default 7 days).
func (r *Runner) consentWindow(in Input) (time.Time, int) {
	days := in.Options.Investigate.Days
	if days == 0 {
		days = DefaultInvestigateDays
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	return now.UTC().Add(-time.Duration(days) * 24 * time.Hour), days
}

type roleEvent struct {
	at     time.Time
	roleID string // AppRole.Id of the record, "" when it names none
}

// findAdminConsents reads the user's audit records since the time and what of the grants
// and assignments they name still exists.
func (r *Runner) findAdminConsents(ctx context.Context, userID string, since time.Time) (adminConsents, error) {
	var found adminConsents
	audits, err := r.Directory.AuditsInitiatedBy(ctx, userID, since)
	if graph.IsForbidden(err) {
		found.unread = append(found.unread, "the directory audit log could not be read (the identity lacks AuditLog.Read.All), so consents the user may have made for the whole tenant and app roles they may have granted were not looked for")
		return found, nil
	}
	if err != nil {
		return found, err
	}
	clients := map[string]bool{}          // client service principals whose tenant-wide grants count
	holders := map[string][]roleEvent{}   // service principals whose held app roles count
	resources := map[string][]roleEvent{} // resources whose assignments to users and groups count
	for _, a := range audits {
		kind := adminConsentActivities[strings.ToLower(strings.TrimSuffix(strings.TrimSpace(a.Activity), "."))]
		if kind == 0 || a.Result != "" && !strings.EqualFold(a.Result, "success") || isOwnConsent(a) {
			continue
		}
		ev := roleEvent{at: a.Time}
		var sps []string
		for _, res := range a.Resources {
			if strings.EqualFold(res.Type, "ServicePrincipal") && graph.ValidID(res.ID) {
				sps = append(sps, strings.ToLower(res.ID))
			}
			if id := res.Modified["AppRole.Id"]; graph.ValidID(id) {
				ev.roleID = strings.ToLower(id)
			}
			if id := res.Modified["ServicePrincipal.ObjectID"]; graph.ValidID(id) {
				sps = append(sps, strings.ToLower(id))
			}
		}
		for _, sp := range sps {
			switch kind {
			case consentActivity: // delegated permissions for all, and application permissions consented with them
				clients[sp] = true
				holders[sp] = append(holders[sp], ev)
			case appRoleToServicePrincipal:
				holders[sp] = append(holders[sp], ev)
			case appRoleToUserOrGroup:
				resources[sp] = append(resources[sp], ev)
			}
		}
	}
	seen := map[string]bool{}
	for _, sp := range sortedKeys(clients) {
		grants, err := r.Directory.PermissionGrantsForClient(ctx, sp)
		if graph.IsForbidden(err) {
			found.unread = append(found.unread, "the tenant-wide grants of application "+sp+" could not be listed ("+err.Error()+")")
			continue
		}
		if err != nil {
			return found, err
		}
		for _, g := range grants {
			if strings.EqualFold(g.ConsentType, graph.ConsentAllPrincipals) && !seen[g.ID] {
				seen[g.ID] = true
				found.grants = append(found.grants, g)
			}
		}
	}
	for _, side := range []struct {
		events map[string][]roleEvent
		list   func(context.Context, string) ([]graph.AppRoleAssignment, error)
		what   string
	}{
		{holders, r.Directory.AppRoleAssignmentsOf, "the app roles held by application "},
		{resources, r.Directory.AppRoleAssignedTo, "the app role assignments of application "},
	} {
		for _, sp := range sortedKeys(side.events) {
			assignments, err := side.list(ctx, sp)
			if graph.IsForbidden(err) {
				found.unread = append(found.unread, side.what+sp+" could not be listed (the identity lacks Application.Read.All)")
				continue
			}
			if err != nil {
				return found, err
			}
			for _, a := range assignments {
				if !seen[a.ID] && madeBy(a, side.events[sp]) {
					seen[a.ID] = true
					found.roles = append(found.roles, a)
				}
			}
		}
	}
	return found, nil
}

// isOwnConsent reports a "Consent to application" or "Add delegated permission grant" record
// that says it was a user's consent for themselves (handled as a Principal grant).
func isOwnConsent(a graph.DirectoryAudit) bool {
	for _, res := range a.Resources {
		if v, ok := res.Modified["ConsentContext.OnBehalfOfAll"]; ok && strings.EqualFold(v, "False") {
			return true
		}
		if v, ok := res.Modified["DelegatedPermissionGrant.ConsentType"]; ok && strings.EqualFold(v, graph.ConsentPrincipal) {
			return true
		}
	}
	return false
}

// madeBy reports whether an assignment is the one an audit record names: created within
// appRoleSlack of the record, with the record's app role when it names one.
func madeBy(a graph.AppRoleAssignment, events []roleEvent) bool {
	if a.Created.IsZero() {
		return false
	}
	for _, ev := range events {
		d := a.Created.Sub(ev.at)
		if d < -appRoleSlack || d > appRoleSlack {
			continue
		}
		if ev.roleID == "" || strings.EqualFold(ev.roleID, a.AppRoleID) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appRoleTarget(a graph.AppRoleAssignment) string {
	label := func(name, id string) string {
		if name != "" {
			return name + " (" + id + ")"
		}
		return id
	}
	return "app role " + a.AppRoleID + " of " + label(a.ResourceName, a.ResourceID) + " granted to " +
		strings.ToLower(orDefault(a.PrincipalType, "principal")) + " " + label(a.PrincipalName, a.PrincipalID)
}

// adminChanges are the changes removing the found consents makes, for the evidence.
func adminChanges(found adminConsents, names map[string]graph.ServicePrincipal) []runs.Change {
	var out []runs.Change
	for _, g := range found.grants {
		before := map[string]any{"id": g.ID, "clientId": g.ClientID, "resourceId": g.ResourceID, "scope": g.Scope, "consentType": g.ConsentType}
		if sp, ok := names[strings.ToLower(g.ClientID)]; ok {
			before["clientDisplayName"], before["clientAppId"] = sp.DisplayName, sp.AppID
		}
		out = append(out, runs.Change{Action: "tenant_consent_revoked", Target: "tenant-wide " + grantTarget(g, names), Before: before,
			Reasons: []string{"the user consented, as an administrator in the look-back window, for every user of the tenant to let this application act as them (" + g.Scope + "); restore creates the grant again"},
			Restore: ConsentGrant{ClientID: g.ClientID, ResourceID: g.ResourceID, Scope: g.Scope, ConsentType: graph.ConsentAllPrincipals}})
	}
	for _, a := range found.roles {
		out = append(out, runs.Change{Action: "app_role_assignment_removed", Target: appRoleTarget(a),
			Before: map[string]any{"id": a.ID, "appRoleId": a.AppRoleID, "principalId": a.PrincipalID, "principalType": a.PrincipalType,
				"principalDisplayName": a.PrincipalName, "resourceId": a.ResourceID, "resourceDisplayName": a.ResourceName,
				"createdDateTime": a.Created.Format(time.RFC3339)},
			Reasons: []string{"the user granted this app role as an administrator in the look-back window (created " + a.Created.Format(time.RFC3339) + "); restore grants it again"},
			Restore: AppRoleGrant{PrincipalID: a.PrincipalID, PrincipalType: a.PrincipalType, ResourceID: a.ResourceID, AppRoleID: a.AppRoleID}})
	}
	return out
}

// adminConsentNames lists the found consents for a message.
func adminConsentNames(found adminConsents, names map[string]graph.ServicePrincipal) string {
	var parts []string
	for _, c := range adminChanges(found, names) {
		parts = append(parts, c.Target)
	}
	return strings.Join(parts, "; ")
}

// removeAdminConsents deletes the found consents. A removal Graph refuses for want of
// AppRoleAssignment.ReadWrite.All is left for a person (named in leftMsg); any other
// failure is the step's.
func (r *Runner) removeAdminConsents(ctx context.Context, found adminConsents, planned []runs.Change) (changes []runs.Change, left []string, err error) {
	n := len(found.grants)
	errs := callEach(n+len(found.roles), func(i int) error {
		if i < n {
			return r.Directory.DeletePermissionGrant(ctx, found.grants[i].ID)
		}
		a := found.roles[i-n]
		return r.Directory.DeleteAppRoleAssignedTo(ctx, a.ResourceID, a.ID)
	})
	for i, e := range errs {
		switch {
		case e == nil || graph.IsNotFound(e):
			changes = append(changes, planned[i])
		case i >= n && graph.IsForbidden(e):
			left = append(left, planned[i].Target)
		case err == nil:
			err = fmt.Errorf("delete %s: %w", planned[i].Target, e)
		}
	}
	return changes, left, err
}

// restoreAppRole creates a removed app role assignment again (already_present when the
// principal holds the role meanwhile).
func (r *Runner) restoreAppRole(ctx context.Context, grant AppRoleGrant, c runs.Change) ([]runs.Change, error) {
	change := runs.Change{Action: "restored", Target: c.Target, After: grant,
		Reasons: []string{"this run removed the app role assignment (" + c.Action + "); it is granted again"}}
	var current []graph.AppRoleAssignment
	var err error
	if strings.EqualFold(grant.PrincipalType, "ServicePrincipal") {
		current, err = r.Directory.AppRoleAssignmentsOf(ctx, grant.PrincipalID)
	} else {
		current, err = r.Directory.AppRoleAssignedTo(ctx, grant.ResourceID)
	}
	if err != nil {
		return nil, fmt.Errorf("read current app role assignments: %w", err)
	}
	if slices.ContainsFunc(current, func(a graph.AppRoleAssignment) bool {
		return strings.EqualFold(a.PrincipalID, grant.PrincipalID) && strings.EqualFold(a.ResourceID, grant.ResourceID) && strings.EqualFold(a.AppRoleID, grant.AppRoleID)
	}) {
		change.Action = "already_present"
		return []runs.Change{change}, nil
	}
	if _, err := r.Directory.CreateAppRoleAssignedTo(ctx, graph.AppRoleAssignment{PrincipalID: grant.PrincipalID, ResourceID: grant.ResourceID, AppRoleID: grant.AppRoleID}); err != nil {
		return nil, err
	}
	return []runs.Change{change}, nil
}

// restoreTenantConsent creates a removed tenant-wide grant again, or adds its scopes to the
// tenant-wide grant of the same application and API that exists meanwhile.
func (r *Runner) restoreTenantConsent(ctx context.Context, grant ConsentGrant, c runs.Change) ([]runs.Change, error) {
	change := runs.Change{Action: "restored", Target: c.Target, After: grant,
		Reasons: []string{"this run revoked the tenant-wide consent (" + c.Action + "); it is granted again"}}
	current, err := r.Directory.PermissionGrantsForClient(ctx, grant.ClientID)
	if err != nil {
		return nil, fmt.Errorf("read current grants: %w", err)
	}
	return r.grantAgain(ctx, current, graph.PermissionGrant{ClientID: grant.ClientID, ResourceID: grant.ResourceID,
		Scope: grant.Scope, ConsentType: graph.ConsentAllPrincipals}, change)
}

// consentRestore is the Restore payload of a revoke-app-consents change: a ConsentGrant, or
// an AppRoleGrant (appRoleId set).
type consentRestore struct {
	ConsentGrant
	PrincipalType string `json:"principalType"`
	AppRoleID     string `json:"appRoleId"`
}

func decodeConsentRestore(v any) (consentRestore, error) {
	var got consentRestore
	raw, _ := json.Marshal(v)
	if err := json.Unmarshal(raw, &got); err != nil || got.ResourceID == "" || got.ClientID == "" && got.AppRoleID == "" {
		return got, errors.New("the recorded change does not name a grant")
	}
	return got, nil
}
