package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tenantsim", "-seed", "demo"}, func(string) string { return "" }, pw)
		pw.Close()
	}()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("read endpoints line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var ep endpoints
	if err := json.Unmarshal([]byte(line), &ep); err != nil {
		t.Fatalf("endpoints line %q: %v", line, err)
	}
	if !strings.HasPrefix(ep.GraphURL, "http://127.0.0.1:") || !strings.HasSuffix(ep.GraphURL, "/v1.0") ||
		!strings.HasSuffix(ep.ExchangeURL, "/adminapi/beta") || ep.IdentityHeader == "" || ep.TenantID == "" ||
		ep.DemoUser != "adele.vance@contoso.example" {
		t.Fatalf("endpoints = %+v", ep)
	}

	q := url.Values{"api-version": {"2019-08-01"}, "resource": {"https://graph.microsoft.com"}}
	req, _ := http.NewRequest(http.MethodGet, ep.IdentityEndpoint+"?"+q.Encode(), nil)
	req.Header.Set("X-IDENTITY-HEADER", ep.IdentityHeader)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	getJSON(t, req, &tok)
	req, _ = http.NewRequest(http.MethodGet, ep.GraphURL+"/users/"+ep.DemoUser, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var user struct {
		ID string `json:"id"`
	}
	getJSON(t, req, &user)
	if user.ID == "" {
		t.Error("demo user not served")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop after cancellation")
	}
}

func TestRunRejectsUnknownSeed(t *testing.T) {
	err := run(context.Background(), []string{"tenantsim", "-seed", "bogus"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("err = %v", err)
	}
}

func getJSON(t *testing.T, req *http.Request, v any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", req.URL, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", req.URL, err)
	}
}
