package steps

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// ConsentGrant is what restore needs to create a revoked grant again (Change.Restore).
type ConsentGrant struct {
	ClientID    string `json:"clientId"`
	ResourceID  string `json:"resourceId"`
	Scope       string `json:"scope"`
	ConsentType string `json:"consentType"`
	PrincipalID string `json:"principalId"`
}

func grantTarget(g graph.PermissionGrant, names map[string]graph.ServicePrincipal) string {
	label := func(id string) string {
		if n := names[strings.ToLower(id)].DisplayName; n != "" {
			return n + " (" + id + ")"
		}
		return id
	}
	return "app " + label(g.ClientID) + " on " + label(g.ResourceID) + ": " + g.Scope
}

// servicePrincipalNames looks up, at once, the names of the applications the grants name,
// for the record. They are a courtesy: a lookup that fails (the identity lacks
// Application.Read.All, an app was deleted) leaves the object id alone, and says why.
func (r *Runner) servicePrincipalNames(ctx context.Context, grants []graph.PermissionGrant) (map[string]graph.ServicePrincipal, string) {
	var ids []string
	seen := map[string]bool{}
	for _, g := range grants {
		for _, id := range []string{g.ClientID, g.ResourceID} {
			if key := strings.ToLower(id); !seen[key] && graph.ValidID(id) {
				seen[key] = true
				ids = append(ids, id)
			}
		}
	}
	found := make([]graph.ServicePrincipal, len(ids))
	errs := callEach(len(ids), func(i int) (err error) {
		found[i], err = r.Directory.GetServicePrincipal(ctx, ids[i])
		return err
	})
	names := map[string]graph.ServicePrincipal{}
	note := ""
	for i, err := range errs {
		switch {
		case err == nil:
			names[strings.ToLower(ids[i])] = found[i]
		case graph.IsForbidden(err) && note == "":
			note = "Application names were not read (the identity lacks Application.Read.All): the record names the service principals' object ids."
		}
	}
	return names, note
}

func (r *Runner) revokeAppConsents(ctx context.Context, in Input) Outcome {
	userID := in.Target.ID
	since, days := r.consentWindow(in)
	// The user's own grants and the audit log of what the user consented to as an
	// administrator are read at once: neither needs the other.
	var (
		grants   []graph.PermissionGrant
		admin    adminConsents
		adminErr error
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { grants, err = r.Directory.PermissionGrants(gctx, userID); return err })
	g.Go(func() error { admin, adminErr = r.findAdminConsents(gctx, userID, since); return nil })
	if err := g.Wait(); err != nil {
		return fail("revoke-app-consents: read delegated permission grants", err, nil)
	}
	// What the user consented to for themselves; a tenant-wide (AllPrincipals) grant serves
	// every user and is looked at below, through the audit log, only when this user made it.
	var own []graph.PermissionGrant
	for _, g := range grants {
		if strings.EqualFold(g.ConsentType, graph.ConsentPrincipal) && strings.EqualFold(g.PrincipalID, userID) {
			own = append(own, g)
		}
	}
	if adminErr != nil {
		return fail("revoke-app-consents: look for consents the user made as an administrator", adminErr, nil)
	}
	include := in.Options.AppConsents.IncludeAdminConsents
	window := fmt.Sprintf("in the last %d days", days)
	var notes []string
	for _, u := range admin.unread {
		notes = append(notes, "Not looked at: "+u+"; a person must check the tenant-wide consents and app role assignments this user made "+window+".")
	}
	if len(own) == 0 && admin.empty() {
		msg := "the user has consented to no application for themselves (no delegated permission grant with consentType Principal) and made no tenant-wide consent or app role assignment " + window + " that still exists"
		if len(notes) > 0 {
			return Outcome{Status: runs.StepActionRequired, Message: joinNotes(msg+".", notes...)}
		}
		return Outcome{Status: runs.StepNoChange, Message: msg}
	}
	names, note := r.servicePrincipalNames(ctx, append(append([]graph.PermissionGrant{}, own...), admin.grants...))
	planned := changesOf(own, func(g graph.PermissionGrant) runs.Change {
		before := map[string]any{"id": g.ID, "clientId": g.ClientID, "resourceId": g.ResourceID, "scope": g.Scope,
			"consentType": g.ConsentType, "principalId": g.PrincipalID}
		if sp, ok := names[strings.ToLower(g.ClientID)]; ok {
			before["clientDisplayName"], before["clientAppId"] = sp.DisplayName, sp.AppID
		}
		if sp, ok := names[strings.ToLower(g.ResourceID)]; ok {
			before["resourceDisplayName"] = sp.DisplayName
		}
		return runs.Change{
			Action: "consent_revoked", Target: grantTarget(g, names),
			Before:  before,
			Reasons: []string{"the user consented for themselves to let this application act as them (" + g.Scope + "): an illicit consent keeps an attacker's app reading mail and files after the password is reset; restore creates the grant again"},
			Restore: ConsentGrant{ClientID: g.ClientID, ResourceID: g.ResourceID, Scope: g.Scope, ConsentType: graph.ConsentPrincipal, PrincipalID: userID},
		}
	})
	status := runs.StepSucceeded
	if note != "" {
		notes = append([]string{note}, notes...)
	}
	if len(admin.unread) > 0 {
		status = runs.StepActionRequired
	}
	var adminPlanned []runs.Change
	if !admin.empty() {
		if include {
			adminPlanned = adminChanges(admin, names)
			planned = append(planned, adminPlanned...)
		} else {
			status = runs.StepActionRequired
			notes = append(notes, "Left in place for a person to decide: consents this user made as an administrator "+window+", which serve more than this user: "+
				adminConsentNames(admin, names)+". If they are the attacker's, run revoke-app-consents again with options.appConsents.includeAdminConsents: true to remove them (reversible).")
		}
	}
	if stop := recordBeforeActing(ctx, "revoke-app-consents", in, planned); stop != nil {
		stop.Message = joinNotes(stop.Message, notes...)
		return *stop
	}
	errs := callEach(len(own), func(i int) error { return r.Directory.DeletePermissionGrant(ctx, own[i].ID) })
	var changes []runs.Change
	var firstErr error
	var failed graph.PermissionGrant
	for i, err := range errs {
		switch {
		case err == nil || graph.IsNotFound(err): // already gone counts: the goal holds
			changes = append(changes, planned[i])
		case firstErr == nil:
			firstErr, failed = err, own[i]
		}
	}
	if firstErr != nil {
		return fail("revoke-app-consents: delete the grant of "+grantTarget(failed, names), firstErr, changes)
	}
	if len(adminPlanned) > 0 {
		done, left, err := r.removeAdminConsents(ctx, admin, adminPlanned)
		changes = append(changes, done...)
		if err != nil {
			return fail("revoke-app-consents: remove a consent the user made as an administrator", err, changes)
		}
		if len(left) > 0 {
			status = runs.StepActionRequired
			notes = append(notes, "Not removed, Graph refused (the identity lacks AppRoleAssignment.ReadWrite.All): "+strings.Join(left, "; ")+". Remove them in the Entra admin center (Enterprise applications, Permissions) or grant the permission and run the step again.")
		}
	}
	return Outcome{Status: status, Changes: changes, Message: joinNotes("", notes...)}
}

// restoreConsent creates a revoked grant again. A grant of the same application to the same
// API for the user that already holds every recorded scope is already_present; one that
// holds fewer gets the missing scopes added (Graph keeps one grant per client, resource
// and user).
func (r *Runner) restoreConsent(ctx context.Context, user runs.UserRef, c runs.Change) ([]runs.Change, error) {
	got, err := decodeConsentRestore(c.Restore)
	if err != nil {
		return nil, err
	}
	switch {
	case got.AppRoleID != "":
		return r.restoreAppRole(ctx, AppRoleGrant{PrincipalID: got.PrincipalID, PrincipalType: got.PrincipalType, ResourceID: got.ResourceID, AppRoleID: got.AppRoleID}, c)
	case strings.EqualFold(got.ConsentType, graph.ConsentAllPrincipals):
		return r.restoreTenantConsent(ctx, got.ConsentGrant, c)
	}
	grant := got.ConsentGrant
	want := graph.PermissionGrant{ClientID: grant.ClientID, ResourceID: grant.ResourceID, Scope: grant.Scope,
		ConsentType: graph.ConsentPrincipal, PrincipalID: user.ID}
	change := runs.Change{Action: "restored", Target: c.Target, After: grant,
		Reasons: []string{"this run revoked the user's consent (" + c.Action + "); it is granted again"}}
	current, err := r.Directory.PermissionGrants(ctx, user.ID)
	if err != nil {
		return nil, fmt.Errorf("read current grants: %w", err)
	}
	return r.grantAgain(ctx, current, want, change)
}

// grantAgain creates want again, or adds its scopes to the grant of the same kind
// (consentType), application and API among current that exists meanwhile (Graph keeps one
// such grant); already_present when that one holds every scope.
func (r *Runner) grantAgain(ctx context.Context, current []graph.PermissionGrant, want graph.PermissionGrant, change runs.Change) ([]runs.Change, error) {
	for _, g := range current {
		if !strings.EqualFold(g.ConsentType, want.ConsentType) || !strings.EqualFold(g.ClientID, want.ClientID) || !strings.EqualFold(g.ResourceID, want.ResourceID) {
			continue
		}
		merged, added := mergeScopes(g.Scope, want.Scope)
		if !added {
			change.Action = "already_present"
			return []runs.Change{change}, nil
		}
		if err := r.Directory.SetPermissionGrantScope(ctx, g.ID, merged); err != nil {
			return nil, err
		}
		return []runs.Change{change}, nil
	}
	if _, err := r.Directory.CreatePermissionGrant(ctx, want); err != nil {
		return nil, err
	}
	return []runs.Change{change}, nil
}

// mergeScopes adds the scopes of extra missing from have, and reports whether any was.
func mergeScopes(have, extra string) (string, bool) {
	fields := strings.Fields(have)
	seen := map[string]bool{}
	for _, s := range fields {
		seen[strings.ToLower(s)] = true
	}
	added := false
	for _, s := range strings.Fields(extra) {
		if !seen[strings.ToLower(s)] {
			fields = append(fields, s)
			seen[strings.ToLower(s)] = true
			added = true
		}
	}
	return strings.Join(fields, " "), added
}
