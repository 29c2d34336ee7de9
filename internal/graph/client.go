// Package graph is Tourniquet's Microsoft Graph client: the user, directory-role and
// group calls the remediation steps need, built on msgraph-sdk-go with a fixed
// middleware order, per-call deadlines, bounded retries and errors mapped to *Error.
package graph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	khttp "github.com/microsoft/kiota-http-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	auth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
)

// Defaults for Options.
const (
	DefaultBaseURL    = "https://graph.microsoft.com/v1.0"
	DefaultTimeout    = 30 * time.Second
	DefaultMaxRetries = 4
)

// Scope is the token scope requested for every call, whatever host BaseURL names: the
// tenant simulator on loopback checks tokens issued for Graph, as Graph does.
const Scope = "https://graph.microsoft.com/.default"

// Options configures New.
type Options struct {
	// BaseURL is the Graph root, default https://graph.microsoft.com/v1.0. Plain http is
	// accepted only for loopback hosts (localhost, 127.0.0.1, ::1), for tests and the
	// tenant simulator.
	BaseURL string
	// Credential provides tokens for https://graph.microsoft.com/.default. Required.
	Credential azcore.TokenCredential
	// Timeout bounds each call (each page of a listing), retries included. Default 30s.
	Timeout time.Duration
	// MaxRetries is how often a throttled (429) or unavailable (503, 504) request is
	// retried. 0 means the default 4; a negative value disables retries; at most 10.
	MaxRetries int
	// HTTPClient, if set, provides the base transport (its Transport field) under the
	// middleware pipeline. Its other settings are not used.
	HTTPClient *http.Client
}

// Client calls Microsoft Graph. It is safe for concurrent use. The SDK's constructor writes
// process-wide registries, so New builds clients one at a time (newClientMu).
type Client struct {
	sdk     *RequestBuilders
	baseURL string
	timeout time.Duration
	now     func() time.Time
}

// newClientMu serialises the SDK's constructors, which write process-wide registries.
var newClientMu sync.Mutex

// New builds a client. It makes no request.
func New(opts Options) (*Client, error) {
	if opts.Credential == nil {
		return nil, errors.New("graph.New: a credential is required")
	}
	baseURL, host, err := parseBaseURL(opts.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("graph.New: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	maxRetries := opts.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = DefaultMaxRetries
	case maxRetries > kiotaMaxRetries:
		return nil, fmt.Errorf("graph.New: MaxRetries %d is above the limit of %d", maxRetries, kiotaMaxRetries)
	}

	// The token goes only to the configured host. NewGraphServiceClientWithCredentials
	// would allow only graph.microsoft.* and silently send loopback requests without
	// Authorization.
	authProvider, err := auth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		opts.Credential, []string{Scope}, []string{host})
	if err != nil {
		return nil, fmt.Errorf("graph.New: authentication provider: %w", err)
	}

	var parent http.RoundTripper
	if opts.HTTPClient != nil {
		parent = opts.HTTPClient.Transport
	}
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(parent, middlewares(maxRetries)...),
		// Redirects are the redirect middleware's job (it drops Authorization on a host
		// change); net/http must hand 3xx answers back to it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	newClientMu.Lock()
	defer newClientMu.Unlock()
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		authProvider, clientOptions, nil, nil, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph.New: request adapter: %w", err)
	}
	adapter.SetBaseUrl(baseURL)

	return &Client{
		sdk:     NewRequestBuilders(adapter),
		baseURL: baseURL,
		timeout: timeout,
		now:     time.Now,
	}, nil
}

// parseBaseURL checks BaseURL and returns it without a trailing slash, with its host name.
func parseBaseURL(raw string) (string, string, error) {
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("base URL %q: %w", raw, err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("base URL %q: want scheme://host[:port]/path without credentials, query or fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", "", fmt.Errorf("base URL %q: plain http is allowed only for loopback hosts", raw)
		}
	default:
		return "", "", fmt.Errorf("base URL %q: scheme must be https", raw)
	}
	return strings.TrimRight(u.String(), "/"), u.Hostname(), nil
}

// isLoopback matches the hosts Kiota's token provider accepts over plain http.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}

// call runs one Graph request under the per-call deadline and maps its failure to *Error.
func (c *Client) call(ctx context.Context, op string, do func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx, observed := withObservedStatus(ctx)
	return toError(op, do(ctx), observed)
}
