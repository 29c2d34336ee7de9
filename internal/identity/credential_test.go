package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

const identityHeader = "identity-header-secret"

// serial keeps client ids and resources unique per run: MSAL caches managed identity
// tokens process-wide, so a repeated run (-count=N) would otherwise never call the fake.
var serial atomic.Int32

// tokenEndpoint imitates the App Service managed identity endpoint and records queries.
type tokenEndpoint struct {
	*httptest.Server
	mu      sync.Mutex
	queries []url.Values
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-IDENTITY-HEADER") != identityHeader {
			http.Error(w, `{"error":"missing header"}`, http.StatusUnauthorized)
			return
		}
		e.mu.Lock()
		e.queries = append(e.queries, r.URL.Query())
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"access_token": "token-for-" + r.URL.Query().Get("resource"),
			"expires_on":   fmt.Sprint(time.Now().Add(time.Hour).Unix()),
			"resource":     r.URL.Query().Get("resource"),
			"token_type":   "Bearer",
		})
	}))
	t.Cleanup(e.Close)
	t.Setenv("IDENTITY_ENDPOINT", e.URL)
	t.Setenv("IDENTITY_HEADER", identityHeader)
	return e
}

func (e *tokenEndpoint) seen() []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]url.Values(nil), e.queries...)
}

func TestNewCredentialUsesAppServiceManagedIdentity(t *testing.T) {
	tests := []struct {
		name     string
		clientID string // AZURE_CLIENT_ID; empty for the system-assigned identity
	}{
		{"system-assigned", ""},
		{"user-assigned", fmt.Sprintf("00000000-0000-0000-0000-%012d", serial.Add(1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := newTokenEndpoint(t)
			env := map[string]string{"AZURE_CLIENT_ID": tt.clientID}
			cred, err := NewCredential(func(k string) string {
				if v, ok := env[k]; ok {
					return v
				}
				return os.Getenv(k)
			})
			if err != nil {
				t.Fatalf("NewCredential: %v", err)
			}
			resource := fmt.Sprintf("api://tourniquet-test-%d", serial.Add(1))
			token, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			if token.Token != "token-for-"+resource {
				t.Errorf("token = %q", token.Token)
			}
			queries := endpoint.seen()
			if len(queries) != 1 {
				t.Fatalf("token endpoint called %d times, want 1", len(queries))
			}
			q := queries[0]
			if q.Get("api-version") != "2019-08-01" || q.Get("resource") != resource || q.Get("client_id") != tt.clientID {
				t.Errorf("token request query = %v, want api-version 2019-08-01, resource %s, client_id %q", q, resource, tt.clientID)
			}
		})
	}
}

type namedCredential string

func (namedCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, nil
}

func TestOrderSources(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantFirst namedCredential
	}{
		{"App Service", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:41000/msi/token", "IDENTITY_HEADER": "h"}, "managed"},
		{"Cloud Shell", map[string]string{"MSI_ENDPOINT": "http://localhost:50342/oauth2/token"}, "managed"},
		{"Azure Arc", map[string]string{"IDENTITY_ENDPOINT": "http://localhost:40342/metadata/identity/oauth2/token", "IMDS_ENDPOINT": "http://localhost:40342"}, "managed"},
		{"endpoint without header", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:41000/msi/token"}, "cli"},
		{"developer machine", map[string]string{}, "cli"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sources := orderSources(func(k string) string { return tt.env[k] }, namedCredential("managed"), namedCredential("cli"))
			if len(sources) != 2 || sources[0] != tt.wantFirst || sources[0] == sources[1] {
				t.Errorf("sources = %v, want %s first and both present", sources, tt.wantFirst)
			}
		})
	}
}
