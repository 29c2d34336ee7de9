package server

import (
	"net/http/httptest"
	"testing"
)

// The page's curl examples name the app by the request's host; a host that is not a plain
// name (a header an attacker sent) falls back to the placeholder.
func TestReportBaseURLFromTheRequestHost(t *testing.T) {
	cases := map[string]string{
		"tourniquet.azurewebsites.net": "https://tourniquet.azurewebsites.net",
		"127.0.0.1:7071":               "http://127.0.0.1:7071",
		"localhost:7071":               "http://localhost:7071",
		"[::1]:7071":                   "",
		"evil.example/\"><x":           "",
		"":                             "",
	}
	for host, want := range cases {
		r := httptest.NewRequest("GET", "/api/remediations/x/report", nil)
		r.Host = host
		if got := baseURL(r); got != want {
			t.Errorf("host %q: base %q, want %q", host, got, want)
		}
	}
}
