package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
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

type callerKey struct{}

// authenticate requires, under AUTH_MODE=easyauth, the caller principal that App Service
// authentication puts in X-MS-CLIENT-PRINCIPAL-ID. These headers are only trustworthy when
// App Service authentication is on: it strips them from incoming requests and sets them
// itself. Without it anyone can send them, which is why function keys stay the default.
func (s *Server) authenticate(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.authMode == "easyauth" && !publicRoutes[r.URL.Path] {
			if strings.TrimSpace(r.Header.Get("X-MS-CLIENT-PRINCIPAL-ID")) == "" {
				s.writeError(w, r, apperr.New(apperr.Unauthorized, "caller identity missing: App Service authentication must supply X-MS-CLIENT-PRINCIPAL-ID"))
				return
			}
		}
		next(w, r)
	})
}

// requestedBy names the caller for the run record.
func (s *Server) requestedBy(r *http.Request) string {
	if s.authMode != "easyauth" {
		return "functionkey"
	}
	if name := strings.TrimSpace(r.Header.Get("X-MS-CLIENT-PRINCIPAL-NAME")); name != "" {
		return name
	}
	if name := principalName(r.Header.Get("X-MS-CLIENT-PRINCIPAL")); name != "" {
		return name
	}
	return strings.TrimSpace(r.Header.Get("X-MS-CLIENT-PRINCIPAL-ID"))
}

// principalName reads the name claim of the base64 X-MS-CLIENT-PRINCIPAL document.
func principalName(encoded string) string {
	if encoded == "" {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return ""
	}
	var p struct {
		NameType string `json:"name_typ"`
		Claims   []struct {
			Type  string `json:"typ"`
			Value string `json:"val"`
		} `json:"claims"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	for _, want := range []string{p.NameType, "name", "preferred_username", "appid"} {
		for _, c := range p.Claims {
			if want != "" && c.Type == want && c.Value != "" {
				return c.Value
			}
		}
	}
	return ""
}
