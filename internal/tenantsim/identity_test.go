package tenantsim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestIdentityEndpoint(t *testing.T) {
	t.Parallel()
	sim := startSim(t, Options{})
	tests := []struct {
		name       string
		header     string
		apiVersion string
		resource   string
		status     int
	}{
		{"graph", sim.IdentityHeader(), "2019-08-01", "https://graph.microsoft.com", 200},
		{"exchange with trailing slash", sim.IdentityHeader(), "2019-08-01", "https://outlook.office365.com/", 200},
		{"missing header", "", "2019-08-01", "https://graph.microsoft.com", 400},
		{"wrong header", "not-the-secret", "2019-08-01", "https://graph.microsoft.com", 401},
		{"unknown resource", sim.IdentityHeader(), "2019-08-01", "https://management.azure.com", 400},
		{"wrong api-version", sim.IdentityHeader(), "2017-09-01", "https://graph.microsoft.com", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"api-version": {tc.apiVersion}, "resource": {tc.resource}}
			req, _ := http.NewRequest(http.MethodGet, sim.IdentityEndpoint()+"?"+q.Encode(), nil)
			if tc.header != "" {
				req.Header.Set("X-IDENTITY-HEADER", tc.header)
			}
			status, _, body := do(t, req)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if status != 200 {
				if body["error"] == nil {
					t.Errorf("error answer without error field: %v", body)
				}
				return
			}
			exp, err := strconv.ParseInt(body["expires_on"].(string), 10, 64)
			if err != nil || time.Until(time.Unix(exp, 0)) < 50*time.Minute {
				t.Errorf("expires_on = %v", body["expires_on"])
			}
			if body["token_type"] != "Bearer" || body["access_token"] == "" || body["resource"] != normalizeResource(tc.resource) {
				t.Errorf("token answer = %v", body)
			}
		})
	}
}

// Tokens are JWTs whose payload carries what a managed identity's token carries: the
// audience, the tenant, the identity's object id and the app roles granted, which the
// preflight reads.
func TestTokensCarryTheIdentitysRoles(t *testing.T) {
	t.Parallel()
	sim := New(Options{})
	sim.SetIdentityRoles("graph", []string{"User.Read.All"})
	for resource, want := range map[string][]any{graphResource: {"User.Read.All"}, exchangeResource: {"Exchange.ManageAsApp"}} {
		parts := strings.Split(sim.issueToken(resource), ".")
		if len(parts) != 3 {
			t.Fatalf("not a JWT: %d parts", len(parts))
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := json.Unmarshal(raw, &claims); err != nil {
			t.Fatal(err)
		}
		if claims["aud"] != resource || claims["oid"] != IdentityObjectID || claims["tid"] != sim.TenantID() || !reflect.DeepEqual(claims["roles"], want) {
			t.Errorf("claims of a %s token: %v", resource, claims)
		}
	}
}

func TestTokensAreBoundToResourceAndRandom(t *testing.T) {
	t.Parallel()
	sim := New(Options{})
	issueToken := sim.issueToken
	a, b := issueToken(graphResource), issueToken(graphResource)
	if a == b {
		t.Error("two tokens are equal")
	}
	if got := tokenResource(a); got != graphResource {
		t.Errorf("resource of a graph token = %q", got)
	}
	if got := tokenResource(issueToken(exchangeResource)); got != exchangeResource {
		t.Errorf("resource of an exchange token = %q", got)
	}
	// Changing one character of the random part invalidates the token.
	tampered := "x" + a[1:]
	if a[0] == 'x' {
		tampered = "y" + a[1:]
	}
	if got := tokenResource(tampered); got != "" {
		t.Errorf("tampered token accepted for %q", got)
	}
	// A second simulator in the same process accepts the first one's tokens (MSAL's
	// process-wide cache hands them out).
	first, second := startSim(t, Options{}), startSim(t, Options{})
	tok := fetchToken(t, first, "https://graph.microsoft.com")
	if status, _, body := graphCallHTTP(t, second, tok, http.MethodGet, "/roleManagement/directory/roleDefinitions", nil); status != 200 {
		t.Errorf("second simulator refused the token: %d %v", status, body)
	}
	if first.IdentityHeader() == second.IdentityHeader() {
		t.Error("two simulators share an identity header")
	}
}
