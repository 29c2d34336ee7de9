// Package exchange is a small client for the Exchange Online admin REST endpoint that the
// ExchangeOnlineManagement PowerShell module itself uses (POST {base}/{tenant}/InvokeCommand).
// No Go SDK covers mailbox forwarding, hidden inbox rules or restricted senders, so this
// package speaks the wire format described in docs/wire-formats.md directly.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Scope is the token scope Exchange Online admin REST accepts.
const Scope = "https://outlook.office365.com/.default"

const (
	defaultTimeout      = 30 * time.Second
	defaultMaxRetries   = 4
	defaultMaxRetryWait = 30 * time.Second
)

// Options configures a Client. Zero values take the documented defaults.
type Options struct {
	BaseURL    string                 // e.g. https://outlook.office365.com/adminapi/beta
	TenantID   string                 // GUID or domain name; validated
	Credential azcore.TokenCredential // asked for a token for Scope before every request
	HTTPClient *http.Client           // optional; the default has a timeout
	Timeout    time.Duration          // per request, token included (default 30s)
	// MaxRetries is how many times a transient failure is retried after the first attempt
	// (default 4; negative means never retry).
	MaxRetries int
	// MaxRetryWait caps how long the client waits before a retry (default 30s). A
	// Retry-After longer than that is not waited out: the call returns a transient *Error
	// at once with RetryAfter set, so a queue redelivery can pick it up later.
	MaxRetryWait time.Duration
	// Sleep waits between attempts; tests inject a recorder. It must return ctx.Err()
	// when ctx ends first.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls Exchange Online cmdlets. It is safe for concurrent use.
type Client struct {
	endpoint     *url.URL // {base}/{tenant}/InvokeCommand
	tenantID     string
	credential   azcore.TokenCredential
	httpClient   *http.Client
	timeout      time.Duration
	maxRetries   int
	maxRetryWait time.Duration
	sleep        func(ctx context.Context, d time.Duration) error
}

// New validates opts and returns a Client.
func New(opts Options) (*Client, error) {
	if opts.Credential == nil {
		return nil, errors.New("exchange.New: a credential is required")
	}
	if err := validateTenant(opts.TenantID); err != nil {
		return nil, fmt.Errorf("exchange.New: %w", err)
	}
	endpoint, err := invokeCommandURL(opts.BaseURL, opts.TenantID)
	if err != nil {
		return nil, fmt.Errorf("exchange.New: %w", err)
	}
	c := &Client{
		endpoint:     endpoint,
		tenantID:     opts.TenantID,
		credential:   opts.Credential,
		httpClient:   opts.HTTPClient,
		timeout:      opts.Timeout,
		maxRetries:   opts.MaxRetries,
		maxRetryWait: opts.MaxRetryWait,
		sleep:        opts.Sleep,
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.maxRetryWait <= 0 {
		c.maxRetryWait = defaultMaxRetryWait
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{
			// The per-request context deadline is the real limit; this is a backstop.
			Timeout: c.timeout + 5*time.Second,
			// InvokeCommand never redirects. Following one would turn a POST into a GET
			// (301/302) or carry the cmdlet elsewhere; the 3xx comes back as an *Error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return c, nil
}

// TenantID returns the tenant the client was built for (used by AnchorApp).
func (c *Client) TenantID() string { return c.tenantID }

// invokeCommandURL builds {base}/{tenant}/InvokeCommand. Plain http is accepted only for
// loopback hosts (tests and the tenant simulator): a bearer token must never cross a
// network in clear text.
func invokeCommandURL(base, tenant string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("base URL %q is not an absolute URL", base)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("base URL %q must not carry a query, fragment or user info", base)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("base URL %q: plain http is allowed only for loopback hosts", base)
		}
	default:
		return nil, fmt.Errorf("base URL %q must use https", base)
	}
	return u.JoinPath(tenant, "InvokeCommand"), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
