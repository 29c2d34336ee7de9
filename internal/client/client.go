// Package client speaks Tourniquet's public HTTP API (contract section 2 and 6.1) for the
// command line: it knows the routes and the documents, never the store or the queues, so
// what it can do is exactly what any caller with a function key can do.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/config"
)

// KeyHeader carries the function key: Azure Functions reads it from this header (or from
// ?code=, which would put the key in every proxy's access log).
const KeyHeader = "x-functions-key"

// maxBody bounds what is read from one answer; a run document of a 500-rule mailbox is a
// few hundred KiB, a report page about as much.
const maxBody = 32 << 20

// Client calls one Tourniquet deployment.
type Client struct {
	base    *url.URL // scheme and host, path prefix without /api
	key     string
	http    *http.Client
	timeout time.Duration // per attempt
	// Retries is how many times a request refused with 429 or 503 is sent again.
	Retries int
	// MaxRetryWait caps one wait for Retry-After: a limit that lifts in an hour is reported,
	// not waited for.
	MaxRetryWait time.Duration
	// sleep waits between attempts; tests make it instant.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a client for the deployment at baseURL (e.g. https://app.azurewebsites.net, with
// or without /api). The key goes in KeyHeader; plain http is accepted only for a loopback host,
// since the key would otherwise cross the network in clear.
func New(baseURL, key string, timeout time.Duration) (*Client, error) {
	if strings.TrimSpace(baseURL) == "" {
		return nil, errors.New("no API address: pass --url or set TOURNIQUET_URL (e.g. https://<app>.azurewebsites.net)")
	}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("API address %q: want https://host[/path]", baseURL)
	}
	if u.Scheme == "http" && !config.IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("API address %q: http is accepted only for a loopback host; the function key would travel in clear", baseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("API address %q: no user, query or fragment (the key goes in --key or TOURNIQUET_KEY)", baseURL)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api")
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Client{base: u, key: key, http: &http.Client{CheckRedirect: keepKeyOnOrigin}, timeout: timeout,
		Retries: 3, MaxRetryWait: 60 * time.Second, sleep: sleepCtx}, nil
}

// keepKeyOnOrigin is the client's redirect policy: a redirect to another origin (scheme,
// host or port) carries neither the function key nor any Authorization. net/http drops
// Authorization on a change of host but forwards custom headers such as KeyHeader, and keeps
// both on an https-to-http redirect to the same host. At most 10 redirects, as by default.
func keepKeyOnOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0].URL
	if !strings.EqualFold(req.URL.Scheme, first.Scheme) || !strings.EqualFold(canonicalHost(req.URL), canonicalHost(first)) {
		req.Header.Del(KeyHeader)
		req.Header.Del("Authorization")
	}
	return nil
}

// canonicalHost is u's host with its port, the scheme's default port filled in.
func canonicalHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// runIDPattern is what a run id may look like here: the service makes them as
// 20261130t050421-<16 hex>; anything outside these characters is refused before it is put in
// a path, so an argument can never name another route.
var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// ValidRunID reports whether id may be sent as a run id.
func ValidRunID(id string) bool { return runIDPattern.MatchString(id) && id != "." && id != ".." }

// Problem is an RFC 9457 answer (application/problem+json) or any other non-2xx answer.
type Problem struct {
	Status        int    `json:"status"`
	Title         string `json:"title"`
	Detail        string `json:"detail"`
	Code          string `json:"code"`
	Type          string `json:"type"`
	RunID         string `json:"runId"`
	RetryAfter    time.Duration
	retryAfterSet bool
	Method        string
	Path          string
	// Body is the answer as sent, for --json.
	Body []byte
}

func (p *Problem) Error() string {
	title := p.Title
	if title == "" {
		title = http.StatusText(p.Status)
	}
	msg := fmt.Sprintf("%s %s: HTTP %d %s", p.Method, p.Path, p.Status, title)
	if p.Code != "" {
		msg += " (" + p.Code + ")"
	}
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	return msg
}

// Document is an answer's body as sent (for --json) next to its decoded form.
type Document[T any] struct {
	Value  T
	Raw    []byte
	Status int
	Header http.Header
}

// send makes one API call and decodes a 2xx JSON answer into T.
func send[T any](ctx context.Context, c *Client, method, path string, query url.Values, body any, header http.Header) (Document[T], error) {
	var doc Document[T]
	status, hdr, data, err := c.call(ctx, method, path, query, body, header)
	if err != nil {
		return doc, err
	}
	doc.Raw, doc.Status, doc.Header = data, status, hdr
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &doc.Value); err != nil {
			return doc, fmt.Errorf("%s %s: HTTP %d: the answer is not the expected JSON: %v", method, path, status, err)
		}
	}
	return doc, nil
}

// call makes one API call and returns a 2xx answer, or a *Problem. A 429, or a 503 (the
// store or the instance is busy; nothing was started), is sent again after Retry-After, at
// most Retries times: the service refused those before acting, so a second attempt starts
// nothing twice. Network errors are retried only for GET, since a POST may have been carried
// out.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body any, header http.Header) (int, http.Header, []byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, nil, nil, err
		}
	}
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = c.base.EscapedPath() + escapePath(path)
	u.RawQuery = query.Encode()
	for attempt := 0; ; attempt++ {
		status, hdr, data, err := c.once(ctx, method, u.String(), payload, header)
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, nil, ctx.Err()
			}
			if method == http.MethodGet && attempt < c.Retries {
				if err := c.sleep(ctx, backoff(attempt)); err != nil {
					return 0, nil, nil, err
				}
				continue
			}
			return 0, nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		if status >= 200 && status < 300 {
			return status, hdr, data, nil
		}
		p := problemOf(method, path, status, hdr, data)
		if (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && attempt < c.Retries {
			wait := p.RetryAfter
			if !p.retryAfterSet {
				wait = backoff(attempt)
			}
			if wait <= c.MaxRetryWait {
				if err := c.sleep(ctx, wait); err != nil {
					return 0, nil, nil, err
				}
				continue
			}
		}
		return 0, nil, nil, p
	}
}

// escapePath keeps the route's slashes and escapes each segment, so a user name or step can
// never add a segment or a query.
func escapePath(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// backoff is 0.5 s, 1 s, 2 s... with up to 25% jitter, for answers without Retry-After.
func backoff(attempt int) time.Duration {
	d := 500 * time.Millisecond << min(attempt, 5)
	return d + time.Duration(rand.Int64N(int64(d/4)+1))
}

func (c *Client) once(ctx context.Context, method, target string, payload []byte, header http.Header) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	for name, values := range header {
		req.Header[name] = values
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json, text/html")
	req.Header.Set("User-Agent", "tourniquet-cli")
	if c.key != "" {
		req.Header.Set(KeyHeader, c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return 0, nil, nil, fmt.Errorf("no answer within %s", c.timeout)
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

func problemOf(method, path string, status int, hdr http.Header, data []byte) *Problem {
	p := &Problem{}
	if strings.Contains(hdr.Get("Content-Type"), "json") {
		_ = json.Unmarshal(data, p)
	}
	p.Status, p.Method, p.Path, p.Body = status, method, path, data
	if p.Detail == "" && p.Code == "" {
		// Not a problem document (a gateway's page, the host's own 401): show its start.
		text := strings.TrimSpace(string(data))
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		p.Detail = text
	}
	if s := hdr.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs >= 0 {
			p.RetryAfter, p.retryAfterSet = time.Duration(secs)*time.Second, true
		} else if at, err := http.ParseTime(s); err == nil {
			p.RetryAfter, p.retryAfterSet = max(time.Until(at), 0), true
		}
	}
	return p
}
