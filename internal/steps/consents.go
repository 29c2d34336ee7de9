package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
	grants, err := r.Directory.PermissionGrants(ctx, userID)
	if err != nil {
		return fail("revoke-app-consents: read delegated permission grants", err, nil)
	}
	// Only what the user consented to for themselves: a tenant-wide (AllPrincipals) grant
	// is an administrator's decision and serves every user.
	var own []graph.PermissionGrant
	for _, g := range grants {
		if strings.EqualFold(g.ConsentType, graph.ConsentPrincipal) && strings.EqualFold(g.PrincipalID, userID) {
			own = append(own, g)
		}
	}
	if len(own) == 0 {
		return Outcome{Status: runs.StepNoChange, Message: "the user has consented to no application for themselves (no delegated permission grant with consentType Principal)"}
	}
	names, note := r.servicePrincipalNames(ctx, own)
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
	if stop := recordBeforeActing(ctx, "revoke-app-consents", in, planned); stop != nil {
		if note != "" {
			stop.Message = joinNotes(stop.Message, note)
		}
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
	return Outcome{Status: runs.StepSucceeded, Changes: changes, Message: note}
}

// restoreConsent creates a revoked grant again. A grant of the same application to the same
// API for the user that already holds every recorded scope is already_present; one that
// holds fewer gets the missing scopes added (Graph keeps one grant per client, resource
// and user).
func (r *Runner) restoreConsent(ctx context.Context, user runs.UserRef, c runs.Change) ([]runs.Change, error) {
	var grant ConsentGrant
	raw, _ := json.Marshal(c.Restore)
	if err := json.Unmarshal(raw, &grant); err != nil || grant.ClientID == "" || grant.ResourceID == "" {
		return nil, errors.New("the recorded change does not name a grant")
	}
	want := graph.PermissionGrant{ClientID: grant.ClientID, ResourceID: grant.ResourceID, Scope: grant.Scope,
		ConsentType: graph.ConsentPrincipal, PrincipalID: user.ID}
	change := runs.Change{Action: "restored", Target: c.Target, After: grant,
		Reasons: []string{"this run revoked the user's consent (" + c.Action + "); it is granted again"}}
	current, err := r.Directory.PermissionGrants(ctx, user.ID)
	if err != nil {
		return nil, fmt.Errorf("read current grants: %w", err)
	}
	for _, g := range current {
		if !strings.EqualFold(g.ConsentType, graph.ConsentPrincipal) || !strings.EqualFold(g.ClientID, want.ClientID) || !strings.EqualFold(g.ResourceID, want.ResourceID) {
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
