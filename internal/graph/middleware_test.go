package graph

import (
	"net/http"
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
