package graph

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

func TestSignInAgainstTenantSimulator(t *testing.T) {
	c, sim, demo := simClient(t, 2)
	ctx := context.Background()

	if err := c.SetAccountEnabled(ctx, demo.UserID, false); err != nil {
		t.Fatalf("SetAccountEnabled(false): %v", err)
	}
	if u, _ := sim.User(demo.UserID); u.AccountEnabled {
		t.Fatal("account still enabled")
	}
	if u, err := c.GetUser(ctx, demo.UserID); err != nil || u.AccountEnabled {
		t.Fatalf("GetUser after disabling = %+v, %v", u, err)
	}
	if err := c.SetAccountEnabled(ctx, demo.UserID, true); err != nil {
		t.Fatalf("SetAccountEnabled(true): %v", err)
	}
	if u, _ := sim.User(demo.UserID); !u.AccountEnabled {
		t.Fatal("account not enabled again")
	}
	// A synced user's accountEnabled is mastered on-premises.
	err := c.SetAccountEnabled(ctx, demo.SyncedUserID, false)
	if ge := asGraphError(t, err); ge.Status != http.StatusBadRequest || !strings.Contains(ge.Message, "on-premises") {
		t.Fatalf("synced user: %+v", ge)
	}
	// The PATCH body holds accountEnabled and nothing else (gzip is undone by the simulator).
	for _, r := range sim.Requests() {
		if r.Method != http.MethodPatch {
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("PATCH body %s: %v", r.Body, err)
		}
		delete(body, "@odata.type")
		if _, ok := body["accountEnabled"].(bool); !ok || len(body) != 1 {
			t.Errorf("PATCH body %s", r.Body)
		}
	}
}

func TestAuthenticationMethodsAgainstTenantSimulator(t *testing.T) {
	c, sim, demo := simClient(t, 1)
	ctx := context.Background()
	sim.AddAuthMethod(demo.UserID, tenantsim.AuthMethod{Type: "temporaryAccessPass", Props: map[string]any{
		"startDateTime": "2026-11-30T04:00:00Z", "lifetimeInMinutes": 60, "isUsableOnce": true, "isUsable": true, "methodUsabilityReason": "EnabledByPolicy"}})
	sim.AddAuthMethod(demo.UserID, tenantsim.AuthMethod{Type: "softwareOath"})
	sim.AddAuthMethod(demo.UserID, tenantsim.AuthMethod{Type: "email", Props: map[string]any{"emailAddress": "adele.private@fabrikam.example"}})
	sim.AddAuthMethod(demo.UserID, tenantsim.AuthMethod{Type: "windowsHelloForBusiness", Props: map[string]any{"displayName": "ADELE-LAPTOP", "keyStrength": "normal"}})
	sim.AddAuthMethod(demo.UserID, tenantsim.AuthMethod{Type: "platformCredential", Props: map[string]any{"displayName": "Adele's MacBook", "platform": "macOS", "keyStrength": "strong"}})

	methods, err := c.AuthenticationMethods(ctx, demo.UserID)
	if err != nil {
		t.Fatalf("AuthenticationMethods: %v", err)
	}
	byType := map[string][]AuthMethod{}
	for _, m := range methods {
		byType[m.Type] = append(byType[m.Type], m)
	}
	if len(methods) != 10 || len(byType[MethodPassword]) != 1 || len(byType[MethodMicrosoftAuthenticator]) != 2 || len(byType[MethodFido2]) != 1 {
		t.Fatalf("methods = %+v", methods)
	}
	// Windows Hello and platform credentials share most properties: each keeps its type.
	if w := byType[MethodWindowsHello]; len(w) != 1 || w[0].Details["keyStrength"] != "normal" || w[0].Created == nil {
		t.Errorf("Windows Hello = %+v", w)
	}
	if p := byType[MethodPlatformCredential]; len(p) != 1 || p[0].Details["platform"] != "macOS" {
		t.Errorf("platform credential = %+v", p)
	}
	phone := byType[MethodPhone][0]
	if phone.ID != tenantsim.PhoneMobileID || phone.Details["phoneNumber"] != "+1 ******0123" || phone.Details["phoneType"] != "mobile" || phone.Created != nil {
		t.Errorf("phone = %+v", phone)
	}
	if e := byType[MethodEmail][0]; e.Details["emailAddress"] != "a************@fabrikam.example" {
		t.Errorf("email = %+v", e)
	}
	tap := byType[MethodTemporaryAccessPass][0]
	if tap.Created == nil || tap.Details["lifetimeInMinutes"] != int32(60) || tap.Details["isUsableOnce"] != true {
		t.Errorf("temporary access pass = %+v", tap)
	}
	for _, m := range methods {
		for k, v := range m.Details {
			if s, _ := v.(string); strings.Contains(strings.ToLower(k), "secret") || strings.Contains(strings.ToLower(k), "temporaryaccesspass") || strings.Contains(s, "0123") && k != "phoneNumber" {
				t.Errorf("method %s records %s=%v", m.ID, k, v)
			}
		}
	}
	// An Authenticator registered for push and codes shows createdDateTime null; the user's
	// own, registered for phone sign-in, shows it. The attacker's registration is in the
	// directory audit log (MethodRegistrations).
	attacker := methods[slices.IndexFunc(methods, func(m AuthMethod) bool { return m.ID == demo.AttackerMethodID })]
	if attacker.Created != nil || attacker.Details["displayName"] != "SM-A515F" {
		t.Errorf("attacker's method = %+v", attacker)
	}
	if own := methods[slices.IndexFunc(methods, func(m AuthMethod) bool { return m.ID == demo.UserMethodIDs[1] })]; own.Created == nil {
		t.Errorf("the user's phone sign-in Authenticator = %+v", own)
	}
	regs, err := c.MethodRegistrations(ctx, demo.UserID, time.Now().Add(-AuditLogRetention))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range regs {
		if a.Service != "Authentication Methods" {
			t.Errorf("not a registration: %+v", a)
		}
		if a.ResultReason == "User registered Authenticator App with Notification and Code" && a.IP == tenantsim.AttackerIP && time.Since(a.Time) < 3*time.Hour {
			found = true
		}
	}
	if !found {
		t.Errorf("the attacker's registration is not among %+v", regs)
	}

	// The default phone cannot go while other methods remain; the others can.
	err = c.DeleteAuthenticationMethod(ctx, demo.UserID, phone)
	if !IsDefaultMethodRefusal(err) {
		t.Fatalf("deleting the default phone first: %v", err)
	}
	for _, m := range methods {
		if m.Type == MethodPassword || m.Type == MethodPhone {
			if m.Deletable() != (m.Type == MethodPhone) {
				t.Errorf("%s Deletable = %v", m.Type, m.Deletable())
			}
			continue
		}
		if err := c.DeleteAuthenticationMethod(ctx, demo.UserID, m); err != nil {
			t.Errorf("delete %s: %v", m.Type, err)
		}
	}
	if err := c.DeleteAuthenticationMethod(ctx, demo.UserID, phone); err != nil {
		t.Fatalf("deleting the default phone last: %v", err)
	}
	if left := sim.AuthMethods(demo.UserID); len(left) != 0 {
		t.Fatalf("methods left: %+v", left)
	}
	// Gone is 404; an unknown type is refused before any request.
	if err := c.DeleteAuthenticationMethod(ctx, demo.UserID, phone); !IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
	if err := c.DeleteAuthenticationMethod(ctx, demo.UserID, AuthMethod{ID: PasswordID, Type: MethodPassword}); err == nil {
		t.Error("the password method was deletable")
	}
	if err := c.DeleteAuthenticationMethod(ctx, demo.UserID, AuthMethod{ID: "../../users", Type: MethodPhone}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad method id: %v", err)
	}
}

// PasswordID is the fixed id of the password method, for the test above.
const PasswordID = tenantsim.PasswordMethodID

func TestPermissionGrantsAgainstTenantSimulator(t *testing.T) {
	c, sim, demo := simClient(t, 1) // one grant a page: the listing follows nextLinks
	ctx := context.Background()
	sim.AddPermissionGrant(tenantsim.PermissionGrant{ClientID: demo.IllicitAppID, ResourceID: "9a4c2e7b-1d3f-4b6a-8e5c-0f2d4b6a8c1e", PrincipalID: demo.UserID, Scope: "Calendars.Read"})

	grants, err := c.PermissionGrants(ctx, demo.UserID)
	if err != nil || len(grants) != 2 {
		t.Fatalf("PermissionGrants = %+v, %v", grants, err)
	}
	g := grants[slices.IndexFunc(grants, func(g PermissionGrant) bool { return g.ID == demo.IllicitGrantID })]
	if g.ConsentType != ConsentPrincipal || g.ClientID != demo.IllicitAppID || g.ResourceID != demo.GraphResourceID || !strings.Contains(g.Scope, "Mail.Send") || len(g.ID) != 64 {
		t.Fatalf("grant = %+v", g)
	}
	pages := 0
	for _, r := range sim.Requests() {
		if r.Path == "/v1.0/oauth2PermissionGrants" && r.Method == http.MethodGet {
			pages++
			if !strings.Contains(r.RawQuery, "principalId") {
				t.Errorf("listing without the principal filter: %s", r.RawQuery)
			}
		}
	}
	if pages != 2 {
		t.Errorf("%d pages, want 2", pages)
	}

	if err := c.DeletePermissionGrant(ctx, g.ID); err != nil {
		t.Fatalf("DeletePermissionGrant: %v", err)
	}
	if err := c.DeletePermissionGrant(ctx, g.ID); !IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
	id, err := c.CreatePermissionGrant(ctx, PermissionGrant{ClientID: g.ClientID, ResourceID: g.ResourceID, ConsentType: ConsentPrincipal, PrincipalID: demo.UserID, Scope: "User.Read"})
	if err != nil || id != g.ID {
		t.Fatalf("CreatePermissionGrant = %q, %v; want the same id %q", id, err, g.ID)
	}
	_, err = c.CreatePermissionGrant(ctx, PermissionGrant{ClientID: g.ClientID, ResourceID: g.ResourceID, ConsentType: ConsentPrincipal, PrincipalID: demo.UserID, Scope: "User.Read"})
	if ge := asGraphError(t, err); ge.Status != http.StatusConflict || ge.Code != "Request_MultipleObjectsWithSameKeyValue" {
		t.Errorf("duplicate grant: %+v", ge)
	}
	if err := c.SetPermissionGrantScope(ctx, id, g.Scope); err != nil {
		t.Fatalf("SetPermissionGrantScope: %v", err)
	}
	for _, got := range sim.PermissionGrants(demo.UserID) {
		if got.ID == id && got.Scope != g.Scope {
			t.Errorf("scope after PATCH = %q", got.Scope)
		}
	}
	sp, err := c.GetServicePrincipal(ctx, g.ClientID)
	if err != nil || sp.DisplayName != "Mail Sync Pro" || sp.AppID == "" || sp.ID != g.ClientID {
		t.Errorf("GetServicePrincipal = %+v, %v", sp, err)
	}
	if _, err := c.GetServicePrincipal(ctx, demo.UserID); !IsNotFound(err) {
		t.Errorf("a user is no service principal: %v", err)
	}
	// Identifiers are checked before they reach the filter or the path.
	if _, err := c.PermissionGrants(ctx, "x' or principalId ne '"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad principal: %v", err)
	}
	if err := c.DeletePermissionGrant(ctx, "../users"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad grant id: %v", err)
	}
}

func TestMaskPhoneAndEmail(t *testing.T) {
	for in, want := range map[string]string{
		"+1 4255550123":     "+1 ******0123",
		"+44 7700900123x12": "+44 ******0123",
		"4255550123":        "******0123",
		"":                  "",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
	if got := MaskEmail("ab@x.example"); got != "a***@x.example" {
		t.Errorf("MaskEmail = %q", got)
	}
}
