package server

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/tourniquet/tourniquet/internal/apperr"
)

func (s *Server) limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			s.writeError(w, r, apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", max))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic", "path", r.URL.Path, "panic", v)
				s.writeError(w, r, apperr.New(apperr.Internal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// App roles of the Tourniquet app registration (infra/app-registration.bicep), checked under
// AUTH_MODE=easyauth.
const (
	RoleRead      = "Tourniquet.Read"      // read runs, sweeps
	RoleRemediate = "Tourniquet.Remediate" // start runs and steps
	RoleRestore   = "Tourniquet.Restore"   // restore what a run removed: grants privilege back
	RoleApprove   = "Tourniquet.Approve"   // approve or reject a waiting run
)

// authenticate requires, under AUTH_MODE=easyauth, the caller principal that App Service
// authentication puts in X-MS-CLIENT-PRINCIPAL-ID, and the app role the route needs among
// the role claims of X-MS-CLIENT-PRINCIPAL. These headers are only trustworthy when App
// Service authentication is on: it strips them from incoming requests and sets them itself
// (config refuses easyauth without WEBSITE_AUTH_ENABLED). Under function keys the host has
// checked the key before forwarding the request.
func (s *Server) authenticate(role string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.authMode == "easyauth" && role != "" {
			if strings.TrimSpace(r.Header.Get("X-MS-CLIENT-PRINCIPAL-ID")) == "" {
				s.writeError(w, r, apperr.New(apperr.Unauthorized, "caller identity missing: App Service authentication must supply X-MS-CLIENT-PRINCIPAL-ID"))
				return
			}
			if !slices.Contains(readPrincipal(r.Header.Get("X-MS-CLIENT-PRINCIPAL")).roles(), role) {
				s.log.Warn("caller lacks the app role", "path", r.URL.Path, "method", r.Method, "principalId", r.Header.Get("X-MS-CLIENT-PRINCIPAL-ID"), "role", role)
				s.writeError(w, r, apperr.New(apperr.Forbidden, "the caller does not hold the app role %s that %s %s needs", role, r.Method, r.URL.Path))
				return
			}
		}
		next(w, r)
	})
}

// requestedBy names the caller for the run record: under easyauth the principal's name, else
// its id; under function keys which key was used, as a short hash (the host does not tell
// the key's name, and the key itself is never recorded).
func (s *Server) requestedBy(r *http.Request) string {
	if s.authMode != "easyauth" {
		key := r.Header.Get("X-Functions-Key")
		if key == "" {
			key = r.URL.Query().Get("code")
		}
		if key == "" {
			return "functionkey"
		}
		return "functionkey:" + KeyFingerprint(key)
	}
	if name := strings.TrimSpace(r.Header.Get("X-MS-CLIENT-PRINCIPAL-NAME")); name != "" {
		return name
	}
	if name := readPrincipal(r.Header.Get("X-MS-CLIENT-PRINCIPAL")).name(); name != "" {
		return name
	}
	return strings.TrimSpace(r.Header.Get("X-MS-CLIENT-PRINCIPAL-ID"))
}

// KeyFingerprint is the first 12 hex digits of the SHA-256 of a function key: enough to tell
// keys apart in the run records (an operator computes it from a key they hold), useless for
// calling the API.
func KeyFingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}

// clientPrincipal is the base64 JSON document App Service authentication puts in
// X-MS-CLIENT-PRINCIPAL.
type clientPrincipal struct {
	AuthType string `json:"auth_typ"`
	NameType string `json:"name_typ"`
	RoleType string `json:"role_typ"`
	Claims   []struct {
		Type  string `json:"typ"`
		Value string `json:"val"`
	} `json:"claims"`
}

func readPrincipal(encoded string) clientPrincipal {
	var p clientPrincipal
	if encoded == "" {
		return p
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(encoded); err != nil {
			return p
		}
	}
	_ = json.Unmarshal(raw, &p)
	return p
}

// name reads the name claim (the one name_typ names, else the usual ones).
func (p clientPrincipal) name() string {
	for _, want := range []string{p.NameType, "name", "preferred_username", "appid"} {
		for _, c := range p.Claims {
			if want != "" && c.Type == want && c.Value != "" {
				return c.Value
			}
		}
	}
	return ""
}

// roles lists the values of the role claims: those whose type role_typ names, or "roles".
func (p clientPrincipal) roles() []string {
	var out []string
	for _, c := range p.Claims {
		if (c.Type == "roles" || (p.RoleType != "" && c.Type == p.RoleType)) && c.Value != "" {
			out = append(out, c.Value)
		}
	}
	return out
}
