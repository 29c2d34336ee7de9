package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

func TestGetUser(t *testing.T) {
	tests := []struct {
		name, key string
	}{
		{"by object id", userID},
		{"by UPN", "alice@contoso.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGraph(t)
			f.on("GET", "/users/"+tt.key, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				writeJSON(w, http.StatusOK, map[string]any{
					"id": userID, "userPrincipalName": "alice@contoso.com", "displayName": "Alice",
					"mail": "alice@contoso.com", "onPremisesSyncEnabled": true, "accountEnabled": true,
				})
			})
			c := newTestClient(t, f)

			got, err := c.GetUser(context.Background(), tt.key)
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			want := User{ID: userID, UserPrincipalName: "alice@contoso.com", DisplayName: "Alice", Mail: "alice@contoso.com",
				OnPremisesSyncEnabled: true, AccountEnabled: true}
			if got != want {
				t.Errorf("user = %+v, want %+v", got, want)
			}
			sel := f.seen()[0].Query.Get("$select")
			if !strings.Contains(sel, "onPremisesSyncEnabled") || !strings.Contains(sel, "accountEnabled") {
				t.Errorf("$select = %q, want onPremisesSyncEnabled and accountEnabled", sel)
			}
		})
	}
}

func TestGetUserWithNullSyncFlag(t *testing.T) {
	f := newFakeGraph(t)
	f.on("GET", "/users/"+userID, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		writeJSON(w, http.StatusOK, map[string]any{"id": userID, "onPremisesSyncEnabled": nil, "accountEnabled": false})
	})
	got, err := newTestClient(t, f).GetUser(context.Background(), userID)
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if got.OnPremisesSyncEnabled || got.AccountEnabled {
		t.Errorf("user = %+v, want a cloud-only disabled user", got)
	}
}

func TestInvalidIdentifiersSendNoRequest(t *testing.T) {
	bad := []string{"", "alice", "' or 1 eq 1", "../groups", "alice@contoso.com/../x", "a..b@contoso.com",
		"00000000-0000-0000-0000-00000000000g", "alice@contoso.com?$select=x", "alice@contoso.com#frag", "a b@contoso.com"}
	f := newFakeGraph(t)
	c := newTestClient(t, f)
	ctx := context.Background()
	for _, id := range bad {
		calls := map[string]error{}
		_, calls["GetUser"] = c.GetUser(ctx, id)
		calls["SetPassword"] = c.SetPassword(ctx, id, "Pa55word-long-enough!")
		calls["RevokeSessions"] = c.RevokeSessions(ctx, id)
		_, calls["RoleAssignments"] = c.RoleAssignments(ctx, id)
		_, calls["RoleAssignmentsForRole"] = c.RoleAssignmentsForRole(ctx, id)
		_, calls["EligibleSchedules"] = c.EligibleSchedules(ctx, id)
		_, calls["ActiveSchedules"] = c.ActiveSchedules(ctx, id)
		_, calls["RoleAssignableGroups"] = c.RoleAssignableGroups(ctx, id)
		calls["RemoveGroupMember"] = c.RemoveGroupMember(ctx, groupID, id)
		calls["AddGroupMember"] = c.AddGroupMember(ctx, id, userID)
		_, calls["CreateRoleAssignment"] = c.CreateRoleAssignment(ctx, id, roleID, "/")
		calls["RemoveEligible"] = c.RemoveEligible(ctx, RoleSchedule{PrincipalID: id, RoleDefinitionID: roleID, DirectoryScopeID: "/"}, "j")
		for op, err := range calls {
			if !errors.Is(err, ErrInvalidID) {
				t.Errorf("%s(%q) error = %v, want ErrInvalidID", op, id, err)
			}
		}
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("fake saw %d requests, want none", n)
	}
}

func TestSetPassword(t *testing.T) {
	const password = "Xy7!long-enough-password"
	f := newFakeGraph(t)
	f.on("PATCH", "/users/"+userID, noContent)
	c := newTestClient(t, f)

	if err := c.SetPassword(context.Background(), userID, password); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	body := decodeJSON(t, f.seen()[0].Body)
	profile, _ := body["passwordProfile"].(map[string]any)
	if profile["password"] != password || profile["forceChangePasswordNextSignIn"] != true {
		t.Errorf("body = %v, want passwordProfile with forceChangePasswordNextSignIn true", body)
	}
	delete(body, "@odata.type") // the SDK's models announce their type
	if len(body) != 1 {
		t.Errorf("body = %v, want only passwordProfile", body)
	}
}

func TestSetPasswordRejectsEmptyPassword(t *testing.T) {
	f := newFakeGraph(t)
	if err := newTestClient(t, f).SetPassword(context.Background(), userID, ""); err == nil {
		t.Fatal("SetPassword with an empty password succeeded")
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("fake saw %d requests, want none", n)
	}
}

func TestRevokeSessions(t *testing.T) {
	tests := []struct {
		name    string
		value   bool
		wantErr bool
	}{
		{"confirmed", true, false},
		{"not confirmed", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGraph(t)
			f.on("POST", "/users/"+userID+"/revokeSignInSessions", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				writeJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": tt.value})
			})
			err := newTestClient(t, f).RevokeSessions(context.Background(), userID)
			if (err != nil) != tt.wantErr {
				t.Errorf("RevokeSessions error = %v, wantErr %v", err, tt.wantErr)
			}
			if n := len(f.seen()); n != 1 {
				t.Errorf("fake saw %d requests, want 1", n)
			}
		})
	}
}

// A user is found by any of its proxy addresses (case aside), not by its UPN; an address that
// is not one never reaches the filter; a quote in one is doubled.
func TestUserByProxyAddressAgainstTheSimulator(t *testing.T) {
	c, sim, _ := simClient(t, 1)
	ctx := context.Background()
	sim.AddUser(tenantsim.User{ID: "5e1d0000-0000-4000-8000-00000000f00d", UserPrincipalName: "qzhou@contoso.onmicrosoft.com", Mail: "Quinn.Zhou@contoso.example", AccountEnabled: true})
	sim.AddUser(tenantsim.User{ID: "5e1d0000-0000-4000-8000-00000000f00e", UserPrincipalName: "ohara@contoso.onmicrosoft.com", Mail: "o'hara@contoso.example", AccountEnabled: true})
	u, err := c.UserByProxyAddress(ctx, "quinn.zhou@CONTOSO.example")
	if err != nil || u.ID != "5e1d0000-0000-4000-8000-00000000f00d" || u.UserPrincipalName != "qzhou@contoso.onmicrosoft.com" {
		t.Fatalf("by address: %+v %v", u, err)
	}
	if u, err := c.UserByProxyAddress(ctx, "o'hara@contoso.example"); err != nil || u.UserPrincipalName != "ohara@contoso.onmicrosoft.com" {
		t.Fatalf("address with a quote: %+v %v", u, err)
	}
	if _, err := c.UserByProxyAddress(ctx, "qzhou@contoso.onmicrosoft.com"); !IsNotFound(err) {
		t.Fatalf("a UPN that is no address: %v, want not found", err)
	}
	sim.ResetRequests()
	for _, bad := range []string{"x') or true or ('", "a@b", "", "x@contoso.example'"} {
		if _, err := c.UserByProxyAddress(ctx, bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("%q: %v, want ErrInvalidID", bad, err)
		}
	}
	if n := len(sim.Requests()); n != 0 {
		t.Fatalf("invalid addresses reached Graph: %d requests", n)
	}
}
