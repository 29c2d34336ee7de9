package tenantsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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

// issueToken returns a random opaque token bound to resource.
func issueToken(resource string) string {
	nonce := make([]byte, 24)
	_, _ = rand.Read(nonce)
	n := base64.RawURLEncoding.EncodeToString(nonce)
	return n + "." + tokenMAC(n, resource)
}

func tokenMAC(nonce, resource string) string {
	m := hmac.New(sha256.New, tokenKey)
	m.Write([]byte(nonce + "\n" + resource))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokenResource returns the resource a token was issued for, or "" for an unknown token.
func tokenResource(token string) string {
	nonce, mac, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	for _, res := range []string{graphResource, exchangeResource} {
		if hmac.Equal([]byte(mac), []byte(tokenMAC(nonce, res))) {
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
			"access_token": issueToken(resource),
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
