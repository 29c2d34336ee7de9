package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type fakeStore struct{ err error }

func (f fakeStore) Ping(context.Context) error { return f.err }

func newTestServer(storeErr error, authMode string) http.Handler {
	return New(nil, fakeStore{storeErr}, authMode, slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

func TestHostProtocolEdges(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		storeErr   error
		wantStatus int
		wantBody   string
	}{
		{"readiness poll", "GET", "/", "", nil, 200, `"ready"`},
		{"health", "GET", "/api/health", "", nil, 200, `{"status":"ok"}`},
		{"health with the store down", "GET", "/api/health", "", errors.New("down"), 503, `"unreachable"`},
		{"unknown function", "POST", "/no-such-function", `{}`, nil, 404, `"Outputs"`},
		{"invocation that is not JSON", "POST", "/queue-remediations", `nope`, nil, 400, `"Logs"`},
		{"HTTP-trigger invocation when forwarding is off", "POST", "/http-health",
			`{"Data":{"req":{"Url":"http://localhost:7071/api/health","Method":"GET","Headers":{"Accept":["application/json"]}}},"Metadata":{}}`,
			nil, 200, `"statusCode":200`},
		{"unknown API route", "GET", "/api/nothing", "", nil, 404, `"not_found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(tt.storeErr, "functionkey")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Fatalf("HTTP %d %s; want %d containing %s", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "json") {
				t.Fatalf("Content-Type %q: the host needs JSON", ct)
			}
		})
	}
}

func TestInvocationAnswerIsAlwaysAnObject(t *testing.T) {
	srv := newTestServer(nil, "functionkey")
	rec := httptest.NewRecorder()
	// A message that is not a valid remediation request is dropped (2xx: retrying cannot fix it).
	srv.ServeHTTP(rec, httptest.NewRequest("POST", "/queue-remediations", strings.NewReader(`{"Data":{"msg":"\"not json\""},"Metadata":{"DequeueCount":"1"}}`)))
	var resp map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
		t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
	}
	if _, ok := resp["Outputs"].(map[string]any); !ok {
		t.Fatalf("Outputs is not an object: %s", rec.Body)
	}
}

func TestEasyAuthLeavesHealthOpenAndRefusesTheRest(t *testing.T) {
	srv := newTestServer(nil, "easyauth")
	for path, want := range map[string]int{"/api/health": 200, "/api/remediations/x": 401, "/api/openapi.json": 200} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
}

func TestRequestedByReadsTheClientPrincipalDocument(t *testing.T) {
	s := &Server{authMode: "easyauth"}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-MS-CLIENT-PRINCIPAL-ID", "id-1")
	// base64 of {"auth_typ":"aad","name_typ":"name","claims":[{"typ":"name","val":"Sentinel Playbook"}]}
	r.Header.Set("X-MS-CLIENT-PRINCIPAL", "eyJhdXRoX3R5cCI6ImFhZCIsIm5hbWVfdHlwIjoibmFtZSIsImNsYWltcyI6W3sidHlwIjoibmFtZSIsInZhbCI6IlNlbnRpbmVsIFBsYXlib29rIn1dfQ==")
	if got := s.requestedBy(r); got != "Sentinel Playbook" {
		t.Fatalf("requestedBy %q", got)
	}
	r.Header.Del("X-MS-CLIENT-PRINCIPAL")
	if got := s.requestedBy(r); got != "id-1" {
		t.Fatalf("requestedBy without a name %q", got)
	}
}
