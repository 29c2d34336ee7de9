package graph

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
)

func TestMiddlewareOrderIsFixed(t *testing.T) {
	for range 5 {
		compression, retry, copier, observer := -1, -1, -1, -1
		list := middlewares(3)
		for i, m := range list {
			switch m.(type) {
			case *khttp.CompressionHandler:
				compression = i
			case *khttp.RetryHandler:
				retry = i
			case attemptCopy:
				copier = i
			case statusObserver:
				observer = i
			}
		}
		if compression < 0 || retry < 0 || compression > retry {
			t.Fatalf("compression at %d, retry at %d: compression must wrap retry", compression, retry)
		}
		if copier != retry+1 {
			t.Fatalf("attempt copy at %d, want right inside retry (%d)", copier, retry+1)
		}
		if observer != len(list)-1 {
			t.Fatalf("status observer at %d, want innermost (%d)", observer, len(list)-1)
		}
	}
}

func TestRetryWait(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name     string
		header   string
		attempt  int
		min, max time.Duration
	}{
		{"seconds", "7", 0, 7 * time.Second, 7 * time.Second},
		{"zero", "0", 3, 0, 0},
		{"http date", at, 0, 80 * time.Second, 91 * time.Second},
		{"backoff first retry", "", 0, 3 * time.Second, 4 * time.Second},
		{"backoff third retry", "", 2, 12 * time.Second, 13 * time.Second},
		{"garbage falls back to backoff", "soon", 0, 3 * time.Second, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{}}
			if tt.header != "" {
				resp.Header.Set("Retry-After", tt.header)
			}
			if got := retryWait(resp, tt.attempt); got < tt.min || got > tt.max {
				t.Errorf("retryWait = %v, want between %v and %v", got, tt.min, tt.max)
			}
		})
	}
}

// TestRetryAfterOfIsClamped: a Retry-After longer than bounds.RetryAfter (5 minutes), in
// either form, defers a step by the bound, not by what the header says.
func TestRetryAfterOfIsClamped(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"soon", 0},
		{"0", 0},
		{"-4", 0},
		{"NaN", 0},
		{"7", 7 * time.Second},
		{"300", 5 * time.Minute},
		{"86400", 5 * time.Minute},
		{"86401", 5 * time.Minute},
		{"999999999", 5 * time.Minute},
		{"+Inf", 5 * time.Minute},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"Thu, 01 Jan 2099 00:00:00 GMT", 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{}}
			if tt.header != "" {
				resp.Header.Set("Retry-After", tt.header)
			}
			if got := retryAfterOf(resp, now); got != tt.want {
				t.Errorf("retryAfterOf(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

// TestRetryPastTheBoundIsNotWaitedInPlace: Kiota would sleep for any Retry-After; one
// longer than bounds.RetryAfter is not retried, even by a call without a deadline.
func TestRetryPastTheBoundIsNotWaitedInPlace(t *testing.T) {
	should := retryOptions(3).ShouldRetry
	req, _ := http.NewRequest(http.MethodGet, "https://graph.example/v1.0/users", nil)
	for header, want := range map[string]bool{
		"2":                             true,
		"300":                           true,
		"301":                           false,
		"999999999":                     false,
		"Thu, 01 Jan 2099 00:00:00 GMT": false,
	} {
		resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {header}}}
		if got := should(0, 0, req, resp); got != want {
			t.Errorf("Retry-After %q: retry in place %v, want %v", header, got, want)
		}
	}
}

// sdkVersion names the version of msgraph-sdk-go in go.mod, as the SDK's own client does in
// Graph's SdkVersion header.
func TestSDKVersionIsTheModulesVersion(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/microsoftgraph/msgraph-sdk-go (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/microsoftgraph/msgraph-sdk-go")
	}
	if got := "v" + sdkVersion; got != string(m[1]) {
		t.Errorf("sdkVersion = %s, go.mod has msgraph-sdk-go %s", got, m[1])
	}
}
