package exchange

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tourniquet/tourniquet/internal/bounds"
)

// maxAnswerBytes bounds one page; 1000 inbox rules with full definitions stay far below.
const maxAnswerBytes = 64 << 20

// baseBackoff is the first retry delay without Retry-After; it doubles per attempt.
const baseBackoff = time.Second

// send POSTs body to target, retrying transient failures, and returns the status and
// body of the 2xx answer.
func (c *Client) send(ctx context.Context, cmdlet string, anchor Anchor, target string, body []byte) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		status, answer, err := c.attempt(ctx, cmdlet, anchor, target, body)
		if err == nil {
			return status, answer, nil
		}
		if !retryable(err) || ctx.Err() != nil || attempt >= c.maxRetries {
			return 0, nil, err
		}
		wait := err.RetryAfter
		if wait > c.maxRetryWait {
			// Waiting that long would hold the function invocation; give up now and let
			// the caller (a queue redelivery) try again later.
			return 0, nil, err
		}
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return 0, nil, err // the caller would give up before the retry could start
		}
		if sleepErr := c.sleep(ctx, wait); sleepErr != nil {
			return 0, nil, &Error{Cmdlet: cmdlet, Status: err.Status, Code: err.Code, RetryAfter: err.RetryAfter, Err: sleepErr,
				Message: fmt.Sprintf("%s (stopped before a retry: %v)", err.Message, sleepErr)}
		}
	}
}

// attempt makes one request with its own timeout and a fresh token (azidentity caches).
func (c *Client) attempt(ctx context.Context, cmdlet string, anchor Anchor, target string, body []byte) (int, []byte, *Error) {
	attemptCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	token, err := c.credential.GetToken(attemptCtx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err != nil {
		return 0, nil, &Error{Cmdlet: cmdlet, Code: "TokenUnavailable",
			Message: tidy("could not get an access token for Exchange Online: " + err.Error()), Err: err}
	}
	req, err := http.NewRequestWithContext(attemptCtx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, &Error{Cmdlet: cmdlet, Code: "InvalidRequest", Message: tidy(err.Error()), Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token.Token)
	req.Header.Set("X-AnchorMailbox", string(anchor))
	req.Header.Set("Prefer", "odata.maxpagesize=1000")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.httpClient.Do(req)
	if err != nil {
		return 0, nil, c.transportError(ctx, cmdlet, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return 0, nil, c.transportError(ctx, cmdlet, err)
	}
	if len(answer) > maxAnswerBytes {
		return 0, nil, &Error{Cmdlet: cmdlet, Status: resp.StatusCode, Code: "InvalidResponse",
			Message: fmt.Sprintf("answer larger than %d bytes", maxAnswerBytes)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, answer, nil
	}
	return 0, nil, errorFromAnswer(cmdlet, resp.StatusCode, answer, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
}

// transportError describes a request that got no (complete) answer. The text comes from
// net/http, which names the URL but never the headers, so no token can leak into it.
func (c *Client) transportError(parent context.Context, cmdlet string, err error) *Error {
	var held interface{ HeldBackUntil() time.Time }
	switch {
	case errors.As(err, &held):
		// Never sent: another call (maybe on another instance) was told to wait.
		return &Error{Cmdlet: cmdlet, Code: codeHeldBack, Message: tidy(unwrapURLError(err).Error()),
			RetryAfter: max(time.Until(held.HeldBackUntil()), 0), Err: err}
	case parent.Err() != nil:
		return &Error{Cmdlet: cmdlet, Code: "Canceled", Message: "the caller stopped waiting: " + parent.Err().Error(), Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Cmdlet: cmdlet, Code: "Timeout", Message: fmt.Sprintf("no answer within %s", c.timeout), Err: err}
	default:
		return &Error{Cmdlet: cmdlet, Code: "NetworkError", Message: tidy(err.Error()), Err: err}
	}
}

// unwrapURLError drops net/http's "Post <url>:" prefix.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryable is narrower than Transient: a token failure is transient for the queue but
// azidentity has already retried it, and 501/505 will not heal in seconds.
func retryable(e *Error) bool {
	switch e.Status {
	case 0:
		return e.Code != "TokenUnavailable" && e.Code != "InvalidRequest" && e.Code != "Canceled"
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	default:
		return false
	}
}

// backoff is exponential with "equal jitter": half the delay is fixed, half random, so
// concurrent steps throttled together do not retry in lockstep.
func (c *Client) backoff(attempt int) time.Duration {
	d := baseBackoff << min(attempt, 16)
	if d > c.maxRetryWait || d <= 0 {
		d = c.maxRetryWait
	}
	half := d / 2
	return half + rand.N(half+1)
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 when absent or invalid.
// A longer one than bounds.RetryAfter is clamped to it, not dropped: the answer still says
// "throttled", and the step it defers asks again after the bound instead of after whatever
// the header says (a day, or a date in 2099, deferred the step past STEP_DEADLINE and it
// failed).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if secs <= 0 { // ParseInt answers math.MinInt64 for a too-negative number
			return 0
		}
		if secs > int64(bounds.RetryAfter/time.Second) {
			return bounds.RetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return bounds.ClampRetryAfter(d.Round(time.Second))
		}
	}
	return 0
}
