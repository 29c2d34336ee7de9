package tenantsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	graphResource    = "https://graph.microsoft.com"
	exchangeResource = "https://outlook.office365.com"

	appServiceAPIVersion = "2019-08-01"
	tokenLifetime        = time.Hour
)

// tokenKey signs the tokens every simulator in this process issues.
//
// Why process-wide: MSAL keeps one process-wide managed identity token cache keyed by
// identity and resource, so a test binary that starts a second simulator gets the token
// the first one issued without calling the second one's endpoint. Tokens stay random and
// opaque; the signature only lets any simulator of the same process recognise them and
// the resource they were issued for.
var tokenKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

// IdentityObjectID is the object id of the simulated managed identity (its service
// principal): the oid claim of every token the simulator issues.
const IdentityObjectID = "a11d0000-0000-4000-8000-00000000001d"

// DefaultGraphRoles are the Microsoft Graph app roles a fully configured deployment grants
// (docs/permissions.md); DefaultExchangeRoles the Exchange Online one.
var (
	DefaultGraphRoles = []string{
		"User.Read.All", "User-PasswordProfile.ReadWrite.All", "User.RevokeSessions.All", "AuditLog.Read.All",
		"Directory.Read.All", "RoleManagement.ReadWrite.Directory", "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
		"GroupMember.ReadWrite.All", "User.EnableDisableAccount.All", "UserAuthenticationMethod.ReadWrite.All",
		"DelegatedPermissionGrant.ReadWrite.All", "Application.Read.All", "Domain.Read.All", "Device.ReadWrite.All",
		"ExchangeMessageTrace.Read.All",
	}
	DefaultExchangeRoles = []string{"Exchange.ManageAsApp"}
)

// SetIdentityRoles sets the app roles the tokens for service ("graph" or "exchange") carry
// in their roles claim, as a deployment that granted only those would get. Tokens already
// issued (MSAL caches them process-wide) keep theirs: a test of missing roles runs the
// handler in a process of its own.
func (s *Sim) SetIdentityRoles(service string, roles []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.roles == nil {
		s.roles = map[string][]string{}
	}
	s.roles[service] = append([]string{}, roles...)
}

// SetExchangeRBAC says whether the identity holds an Exchange role (Exchange Administrator,
// or a role group): without one, Exchange.ManageAsApp alone runs no cmdlet, and every
// cmdlet answers 403.
func (s *Sim) SetExchangeRBAC(held bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noExchangeRBAC = !held
}

// SetOmitAssignableToRole makes the user's memberOf listings leave isAssignableToRole out,
// as Graph may under a permission that does not cover the property (issue found in review;
// which permission does so is not documented, so this is played, not reproduced).
func (s *Sim) SetOmitAssignableToRole(omit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.omitAssignable = omit
}

func (s *Sim) exchangeRBACMissing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noExchangeRBAC
}

func (s *Sim) identityRoles(resource string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	service, defaults := "graph", DefaultGraphRoles
	if resource == exchangeResource {
		service, defaults = "exchange", DefaultExchangeRoles
	}
	if roles, ok := s.roles[service]; ok {
		return roles
	}
	return defaults
}

// issueToken returns an access token for resource shaped as Entra ID issues one to a managed
// identity: a JWT whose payload carries aud, tid, oid, idtyp "app" and the roles claim.
// It is signed with HMAC-SHA256 under the process's tokenKey (Entra ID signs with RS256;
// nobody but a simulator checks these), so any simulator of the process recognises it and
// the resource it was issued for.
func (s *Sim) issueToken(resource string) string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"aud": resource, "iss": "https://sts.windows.net/" + s.TenantID() + "/", "tid": s.TenantID(),
		"oid": IdentityObjectID, "sub": IdentityObjectID, "idtyp": "app", "roles": s.identityRoles(resource),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(tokenLifetime).Unix(),
		"uti": base64.RawURLEncoding.EncodeToString(nonce),
	})
	signed := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256"}`)) + "." + base64.RawURLEncoding.EncodeToString(claims)
	return signed + "." + tokenMAC(signed, resource)
}

func tokenMAC(signed, resource string) string {
	m := hmac.New(sha256.New, tokenKey)
	m.Write([]byte(signed + "\n" + resource))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokenResource returns the resource a token was issued for, or "" for an unknown token.
func tokenResource(token string) string {
	i := strings.LastIndexByte(token, '.')
	if i < 0 || strings.Count(token, ".") != 2 {
		return ""
	}
	signed, mac := token[:i], token[i+1:]
	for _, res := range []string{graphResource, exchangeResource} {
		if hmac.Equal([]byte(mac), []byte(tokenMAC(signed, res))) {
			return res
		}
	}
	return ""
}

// normalizeResource maps what a client may send (scope, trailing slash) to a resource.
func normalizeResource(res string) string {
	res = strings.TrimSuffix(res, "/.default")
	return strings.TrimSuffix(res, "/")
}

// serveIdentity is the App Service managed identity endpoint (api-version 2019-08-01).
func (s *Sim) serveIdentity(w http.ResponseWriter, r *http.Request) {
	rec := Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Service: ServiceIdentity}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.Status = sw.status
		s.record(rec)
	}()

	header := r.Header.Get("X-IDENTITY-HEADER")
	rec.Authorized = header != "" && subtle.ConstantTimeCompare([]byte(header), []byte(s.identityHeader)) == 1
	if s.applyFault(sw, r, faultKey{method: r.Method, path: r.URL.Path}, ServiceIdentity, false) {
		return
	}
	q := r.URL.Query()
	switch resource := normalizeResource(q.Get("resource")); {
	case r.Method != http.MethodGet:
		identityError(sw, http.StatusMethodNotAllowed, "invalid_request", "Only GET is supported.")
	case header == "":
		identityError(sw, http.StatusBadRequest, "invalid_request", "Required header X-IDENTITY-HEADER is missing.")
	case !rec.Authorized:
		identityError(sw, http.StatusUnauthorized, "unauthorized_client", "X-IDENTITY-HEADER does not match.")
	case q.Get("api-version") != appServiceAPIVersion:
		identityError(sw, http.StatusBadRequest, "invalid_request", "Unsupported api-version; use "+appServiceAPIVersion+".")
	case resource != graphResource && resource != exchangeResource:
		identityError(sw, http.StatusBadRequest, "invalid_resource", "Unknown resource '"+q.Get("resource")+"'.")
	default:
		writeJSON(sw, http.StatusOK, map[string]string{
			"access_token": s.issueToken(resource),
			"expires_on":   strconv.FormatInt(time.Now().Add(tokenLifetime).Unix(), 10),
			"resource":     resource,
			"token_type":   "Bearer",
		})
	}
}

func identityError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// authorize checks the bearer token of a Graph or Exchange request. The second result is
// the message for the 401 answer.
func (s *Sim) authorize(r *http.Request, resource string) (bool, string) {
	auth := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	switch {
	case auth == "" || token == "":
		return false, "Access token is empty."
	case !strings.EqualFold(scheme, "Bearer"):
		return false, "Access token validation failure. Invalid authentication scheme."
	}
	switch tokenResource(token) {
	case resource:
		return true, ""
	case "":
		return false, "Access token validation failure."
	default:
		return false, "Access token validation failure. Invalid audience."
	}
}

func writeUnauthorized(w http.ResponseWriter, service, message string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"`)
	if service == ServiceExchange {
		writeExchangeError(w, exoError{status: http.StatusUnauthorized, code: "InvalidAuthenticationToken", message: message})
		return
	}
	writeGraphError(w, graphErr(http.StatusUnauthorized, "InvalidAuthenticationToken", message), nil)
}
