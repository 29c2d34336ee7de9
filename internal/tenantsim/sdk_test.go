package tenantsim

// These tests drive the simulator with the real clients: azidentity's managed identity
// credential (App Service protocol) and msgraph-sdk-go. They use t.Setenv, so they cannot
// run in parallel.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tourniquet/tourniquet/internal/graph"
)

// newSDKClient builds a Graph client the way Tourniquet does: managed identity from
// IDENTITY_ENDPOINT/IDENTITY_HEADER, loopback host allowed for tokens, the SDK's request
// adapter with its default middleware, base URL redirected. The request builders are
// graph.RequestBuilders (the SDK's root client, which compiles all of Graph, is not used).
func newSDKClient(t *testing.T, sim *Sim) *graph.RequestBuilders {
	t.Helper()
	t.Setenv("IDENTITY_ENDPOINT", sim.IdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", sim.IdentityHeader())
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatalf("NewManagedIdentityCredential: %v", err)
	}
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{"https://graph.microsoft.com/.default"}, []string{"127.0.0.1"})
	if err != nil {
		t.Fatalf("authentication provider: %v", err)
	}
	adapter, err := msgraphcore.NewGraphRequestAdapterBase(auth, msgraphcore.GraphClientOptions{})
	if err != nil {
		t.Fatalf("request adapter: %v", err)
	}
	adapter.SetBaseUrl(sim.GraphURL())
	return graph.NewRequestBuilders(adapter)
}

func sdkContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// odataCode extracts code and status from an SDK error with the nil-safe getters.
func odataCode(t *testing.T, err error) (code string, status int) {
	t.Helper()
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("error %T (%v) is not an ODataError", err, err)
	}
	if main := oe.GetErrorEscaped(); main != nil && main.GetCode() != nil {
		code = *main.GetCode()
	}
	return code, oe.GetStatusCode()
}

func TestSDKGetUserWithSelect(t *testing.T) {
	sim, demo := startDemo(t)
	client := newSDKClient(t, sim)
	ctx := sdkContext(t)

	sel := &users.UserItemRequestBuilderGetRequestConfiguration{QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{
		Select: []string{"id", "userPrincipalName", "displayName", "mail", "onPremisesSyncEnabled", "accountEnabled"},
	}}
	u, err := client.Users().ByUserId(demo.UPN).Get(ctx, sel)
	if err != nil {
		t.Fatalf("get user: %v", err)
	}
	if *u.GetId() != demo.UserID || *u.GetDisplayName() != "Adele Vance" || !*u.GetAccountEnabled() {
		t.Errorf("user = %s %s %v", *u.GetId(), *u.GetDisplayName(), *u.GetAccountEnabled())
	}
	if u.GetOnPremisesSyncEnabled() != nil {
		t.Errorf("cloud user onPremisesSyncEnabled = %v, want null", *u.GetOnPremisesSyncEnabled())
	}

	synced, err := client.Users().ByUserId(demo.SyncedUserID).Get(ctx, sel)
	if err != nil {
		t.Fatalf("get synced user: %v", err)
	}
	if synced.GetOnPremisesSyncEnabled() == nil || !*synced.GetOnPremisesSyncEnabled() {
		t.Errorf("synced user onPremisesSyncEnabled = %v, want true", synced.GetOnPremisesSyncEnabled())
	}

	var last Request
	for _, r := range sim.Requests() {
		if r.Service == ServiceGraph {
			last = r
		}
	}
	if !last.Authorized || !strings.Contains(last.RawQuery, "select=") {
		t.Errorf("last graph request = %+v, want authorized with $select", last)
	}
}

func TestSDKPatchPasswordIsGzippedAndRecorded(t *testing.T) {
	sim, demo := startDemo(t)
	client := newSDKClient(t, sim)
	ctx := sdkContext(t)

	const password = "Xq7!mZp2#vLr9@tNw4$k"
	if err := patchPassword(ctx, client, demo.UserID, password); err != nil {
		t.Fatalf("PATCH passwordProfile: %v", err)
	}
	resets := sim.PasswordResets(demo.UserID)
	if len(resets) != 1 || resets[0].Password != password || !resets[0].ForceChange {
		t.Fatalf("resets = %+v", resets)
	}
	var patch *Request
	for _, r := range sim.Requests() {
		if r.Method == http.MethodPatch {
			patch = &r
		}
	}
	if patch == nil {
		t.Fatal("no PATCH recorded")
	}
	if !patch.Authorized || patch.ContentEncoding != "gzip" || patch.Status != http.StatusNoContent {
		t.Errorf("PATCH recorded as %+v, want authorized, gzip, 204", patch)
	}
	var body struct {
		PasswordProfile struct {
			Password    string `json:"password"`
			ForceChange bool   `json:"forceChangePasswordNextSignIn"`
		} `json:"passwordProfile"`
	}
	if err := json.Unmarshal(patch.Body, &body); err != nil {
		t.Fatalf("recorded body is not the decompressed JSON: %v", err)
	}
	if body.PasswordProfile.Password != password || !body.PasswordProfile.ForceChange {
		t.Errorf("recorded body = %+v", body)
	}

	tests := []struct {
		name     string
		user     string
		password string
		code     string
	}{
		{"weak password", demo.UserID, "password", "Request_BadRequest"},
		{"synced user", demo.SyncedUserID, password, "Request_BadRequest"},
		{"unknown user", "nobody@contoso.example", password, "Request_ResourceNotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := patchPassword(ctx, client, tc.user, tc.password)
			if err == nil {
				t.Fatal("PATCH succeeded")
			}
			if code, _ := odataCode(t, err); code != tc.code {
				t.Errorf("code = %q, want %q", code, tc.code)
			}
		})
	}
	if n := len(sim.PasswordResets(demo.SyncedUserID)); n != 0 {
		t.Errorf("synced user got %d resets", n)
	}
}

func patchPassword(ctx context.Context, client *graph.RequestBuilders, user, password string) error {
	profile := models.NewPasswordProfile()
	profile.SetPassword(&password)
	force := true
	profile.SetForceChangePasswordNextSignIn(&force)
	body := models.NewUser()
	body.SetPasswordProfile(profile)
	_, err := client.Users().ByUserId(user).Patch(ctx, body, nil)
	return err
}

func TestSDKRevokeSignInSessions(t *testing.T) {
	sim, demo := startDemo(t)
	client := newSDKClient(t, sim)
	resp, err := client.Users().ByUserId(demo.UserID).RevokeSignInSessions().PostAsRevokeSignInSessionsPostResponse(sdkContext(t), nil)
	if err != nil {
		t.Fatalf("revokeSignInSessions: %v", err)
	}
	if resp.GetValue() == nil || !*resp.GetValue() {
		t.Errorf("value = %v, want true", resp.GetValue())
	}
	if n := sim.SessionsRevoked(demo.UserID); n != 1 {
		t.Errorf("SessionsRevoked = %d, want 1", n)
	}
}

func TestSDKRoleAssignmentsPageIterator(t *testing.T) {
	sim, demo := startDemo(t)
	// Five more roles so the filtered list spans four pages of two.
	for _, role := range []string{RoleHelpdeskAdministrator, RoleGlobalReader, RoleSecurityReader, RoleAuthenticationAdministrator, RolePrivilegedRoleAdministrator} {
		sim.AssignRole(demo.UserID, role, "/")
	}
	client := newSDKClient(t, sim)
	ctx := sdkContext(t)

	filter := "principalId eq '" + demo.UserID + "'"
	first, err := client.RoleManagement().Directory().RoleAssignments().Get(ctx, &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{
		QueryParameters: &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{Filter: &filter, Expand: []string{"roleDefinition"}},
	})
	if err != nil {
		t.Fatalf("list roleAssignments: %v", err)
	}
	it, err := msgraphcore.NewPageIterator[models.UnifiedRoleAssignmentable](first, client.Adapter(), models.CreateUnifiedRoleAssignmentCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatalf("NewPageIterator: %v", err)
	}
	var roles []string
	err = it.Iterate(ctx, func(a models.UnifiedRoleAssignmentable) bool {
		if *a.GetPrincipalId() != demo.UserID {
			t.Errorf("assignment of %s leaked through the filter", *a.GetPrincipalId())
		}
		if a.GetRoleDefinition() == nil || a.GetRoleDefinition().GetDisplayName() == nil {
			t.Errorf("assignment %s without expanded roleDefinition", *a.GetId())
			return true
		}
		roles = append(roles, *a.GetRoleDefinition().GetDisplayName())
		return true
	})
	if err != nil {
		t.Fatalf("Iterate: %v", err)
	}
	if len(roles) != 7 || roles[0] != "Exchange Administrator" || roles[1] != "Contoso Mail Auditor" {
		t.Errorf("roles = %v, want 7 starting with Exchange Administrator, Contoso Mail Auditor", roles)
	}
	pages := 0
	for _, r := range sim.Requests() {
		if strings.HasSuffix(r.Path, "/roleAssignments") && r.Method == http.MethodGet {
			pages++
			if !r.Authorized {
				t.Errorf("page request not authorized: %+v", r)
			}
		}
	}
	if pages != 4 {
		t.Errorf("pages fetched = %d, want 4", pages)
	}
}

func TestSDKMemberOfGroupsAndMemberRemoval(t *testing.T) {
	sim, demo := startDemo(t)
	client := newSDKClient(t, sim)
	ctx := sdkContext(t)

	listGroups := func() map[string]bool {
		t.Helper()
		resp, err := client.Users().ByUserId(demo.UserID).MemberOf().GraphGroup().Get(ctx, &users.ItemMemberOfGraphGroupRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemMemberOfGraphGroupRequestBuilderGetQueryParameters{Select: []string{"id", "displayName", "isAssignableToRole"}},
		})
		if err != nil {
			t.Fatalf("memberOf/graph.group: %v", err)
		}
		out := map[string]bool{}
		for _, g := range resp.GetValue() {
			out[*g.GetDisplayName()] = g.GetIsAssignableToRole() != nil && *g.GetIsAssignableToRole()
		}
		return out
	}
	groups := listGroups()
	if len(groups) != 2 || !groups["Tier1 Helpdesk Admins"] || groups["All Contoso"] {
		t.Fatalf("groups = %v, want Tier1 Helpdesk Admins (assignable) and All Contoso", groups)
	}

	if err := client.Groups().ByGroupId(demo.HelpdeskGroupID).Members().ByDirectoryObjectId(demo.UserID).Ref().Delete(ctx, nil); err != nil {
		t.Fatalf("remove member: %v", err)
	}
	if groups := listGroups(); len(groups) != 1 || groups["Tier1 Helpdesk Admins"] {
		t.Errorf("after removal groups = %v", groups)
	}
	for _, m := range sim.GroupMembers(demo.HelpdeskGroupID) {
		if m == demo.UserID {
			t.Error("user still a member of the helpdesk group")
		}
	}
	err := client.Groups().ByGroupId(demo.HelpdeskGroupID).Members().ByDirectoryObjectId(demo.UserID).Ref().Delete(ctx, nil)
	if code, status := odataCode(t, err); status != http.StatusNotFound || code != "Request_ResourceNotFound" {
		t.Errorf("second removal: %d %s, want 404 Request_ResourceNotFound", status, code)
	}
}

func TestSDKEligibilityAdminRemove(t *testing.T) {
	sim, demo := startDemo(t)
	client := newSDKClient(t, sim)
	ctx := sdkContext(t)

	remove := func() (models.UnifiedRoleEligibilityScheduleRequestable, error) {
		req := models.NewUnifiedRoleEligibilityScheduleRequest()
		action := models.ADMINREMOVE_UNIFIEDROLESCHEDULEREQUESTACTIONS
		req.SetAction(&action)
		principal, role, scope, why := demo.UserID, RoleSecurityAdministrator, "/", "compromised account"
		req.SetPrincipalId(&principal)
		req.SetRoleDefinitionId(&role)
		req.SetDirectoryScopeId(&scope)
		req.SetJustification(&why)
		return client.RoleManagement().Directory().RoleEligibilityScheduleRequests().Post(ctx, req, nil)
	}
	resp, err := remove()
	if err != nil {
		t.Fatalf("adminRemove: %v", err)
	}
	if resp.GetStatus() == nil || *resp.GetStatus() != "Revoked" {
		t.Errorf("status = %v, want Revoked", resp.GetStatus())
	}
	if resp.GetTargetScheduleId() == nil || *resp.GetTargetScheduleId() != demo.EligibleScheduleID {
		t.Errorf("targetScheduleId = %v, want %s", resp.GetTargetScheduleId(), demo.EligibleScheduleID)
	}
	if left := sim.EligibleRoles(demo.UserID); len(left) != 0 {
		t.Errorf("eligible roles left: %+v", left)
	}
	_, err = remove()
	if code, status := odataCode(t, err); status != http.StatusBadRequest || code != "RoleAssignmentDoesNotExist" {
		t.Errorf("second adminRemove: %d %s", status, code)
	}
}

func TestSDKNotFoundErrorShape(t *testing.T) {
	sim, _ := startDemo(t)
	client := newSDKClient(t, sim)
	_, err := client.Users().ByUserId("ghost@contoso.example").Get(sdkContext(t), nil)
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("error %T is not an ODataError", err)
	}
	main := oe.GetErrorEscaped()
	if oe.GetStatusCode() != http.StatusNotFound || main == nil || *main.GetCode() != "Request_ResourceNotFound" {
		t.Fatalf("status %d main %v", oe.GetStatusCode(), main)
	}
	if msg := *main.GetMessage(); !strings.Contains(msg, "Resource 'ghost@contoso.example' does not exist") {
		t.Errorf("message = %q", msg)
	}
	if inner := main.GetInnerError(); inner == nil || inner.GetRequestId() == nil || *inner.GetRequestId() == "" {
		t.Error("innerError.request-id missing")
	}
}

func TestSDKRetriesAfterThrottling(t *testing.T) {
	sim, demo := startDemo(t)
	client := newSDKClient(t, sim)
	sim.ThrottleNext(2, "GET /v1.0/users/", 0)
	u, err := client.Users().ByUserId(demo.UserID).Get(sdkContext(t), nil)
	if err != nil {
		t.Fatalf("get after throttling: %v", err)
	}
	if *u.GetId() != demo.UserID {
		t.Errorf("id = %s", *u.GetId())
	}
	var statuses []int
	for _, r := range sim.Requests() {
		if r.Service == ServiceGraph {
			statuses = append(statuses, r.Status)
		}
	}
	if len(statuses) != 3 || statuses[0] != 429 || statuses[1] != 429 || statuses[2] != 200 {
		t.Errorf("statuses = %v, want [429 429 200]", statuses)
	}
}

func TestSDKBatch(t *testing.T) {
	sim, demo := startDemo(t)
	client := newSDKClient(t, sim)
	ctx := sdkContext(t)

	batch := msgraphcore.NewBatchRequest(client.Adapter())
	known, err := client.Users().ByUserId(demo.UserID).ToGetRequestInformation(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := client.Users().ByUserId("ghost@contoso.example").ToGetRequestInformation(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	knownStep, err := batch.AddBatchRequestStep(*known)
	if err != nil {
		t.Fatal(err)
	}
	unknownStep, err := batch.AddBatchRequestStep(*unknown)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := batch.Send(ctx, client.Adapter())
	if err != nil {
		t.Fatalf("batch send: %v", err)
	}
	codes := resp.GetStatusCodes()
	if codes[*knownStep.GetId()] != 200 || codes[*unknownStep.GetId()] != 404 {
		t.Fatalf("status codes = %v", codes)
	}
	u, err := msgraphcore.GetBatchResponseById[models.Userable](resp, *knownStep.GetId(), models.CreateUserFromDiscriminatorValue)
	if err != nil {
		t.Fatalf("GetBatchResponseById: %v", err)
	}
	if *u.GetUserPrincipalName() != demo.UPN {
		t.Errorf("upn = %s", *u.GetUserPrincipalName())
	}
	inBatch := 0
	for _, r := range sim.Requests() {
		if r.InBatch {
			inBatch++
		}
	}
	if inBatch != 2 {
		t.Errorf("recorded %d batch items, want 2", inBatch)
	}
}
