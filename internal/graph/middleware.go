package graph

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/tourniquet/tourniquet/internal/bounds"
)

// Kiota's RetryHandler never goes past this many retries, whatever its options say.
const kiotaMaxRetries = 10

// middlewares returns the HTTP pipeline in a fixed order; earlier entries wrap later ones.
//
// The SDK's default list is built by ranging over a map, so its order changes from one
// client to the next. When the retry handler ends up outside the compression handler, a
// PATCH or POST retried after a 429 goes out with an empty or mislabelled gzip body
// (kiota-http-go#183). Here compression always wraps retry: the body is compressed once,
// the retry handler rewinds the compressed, seekable body before each new attempt, and
// attemptCopy hands each attempt its own copy of it.
func middlewares(maxRetries int) []khttp.Middleware {
	graphOptions := clientOptions
	return []khttp.Middleware{
		core.NewGraphTelemetryHandler(&graphOptions), // SdkVersion and client-request-id headers
		khttp.NewUserAgentHandler(),
		khttp.NewParametersNameDecodingHandler(), // %24filter -> $filter in the URL
		khttp.NewHeadersInspectionHandler(),
		khttp.NewRedirectHandlerWithOptions(khttp.RedirectHandlerOptions{
			// A redirected request would reuse a body the inner handlers already consumed,
			// so only body-less requests follow redirects (Graph does not redirect the
			// writes this client makes). Authorization is dropped on a host change.
			ShouldRedirect: func(req *http.Request, _ *http.Response) bool { return req.Body == nil },
		}),
		khttp.NewCompressionHandler(),
		khttp.NewRetryHandlerWithOptions(retryOptions(maxRetries)),
		attemptCopy{},
		statusObserver{},
	}
}

// retryOptions builds the retry policy. Kiota treats MaxRetries < 1 as "use 3", so the
// exact limit (including "never retry") is enforced in ShouldRetry, which must not be nil
// (a nil ShouldRetry panics inside the handler). Kiota sleeps for whatever Retry-After
// says, so a wait longer than bounds.RetryAfter is not retried in place: the 429 is
// returned, with its Retry-After clamped (retryAfterOf), and the step is deferred by that.
func retryOptions(maxRetries int) khttp.RetryHandlerOptions {
	return khttp.RetryHandlerOptions{
		MaxRetries: max(1, min(maxRetries, kiotaMaxRetries)),
		ShouldRetry: func(_ time.Duration, attempt int, req *http.Request, resp *http.Response) bool {
			wait := retryWait(resp, attempt)
			return attempt < maxRetries && wait <= bounds.RetryAfter && waitFitsDeadline(req.Context(), wait)
		},
	}
}

// waitFitsDeadline refuses a retry whose wait would outlast the call's deadline: the
// 429/503 is then returned at once (a transient *Error) instead of sleeping until the
// deadline and failing with a timeout that hides the throttling.
func waitFitsDeadline(ctx context.Context, wait time.Duration) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return true
	}
	return time.Now().Add(wait).Before(deadline)
}

// Kiota's backoff without Retry-After: 3 s, 6 s, 12 s... plus up to 1 s of jitter.
const kiotaBaseDelay = 3 * time.Second

// retryWait predicts the retry handler's wait before retry number attempt+1: Retry-After
// as seconds or as an HTTP date when present, else its exponential backoff.
func retryWait(resp *http.Response, attempt int) time.Duration {
	if value := resp.Header.Get("Retry-After"); value != "" {
		if seconds, err := strconv.ParseFloat(value, 64); err == nil {
			return time.Duration(seconds * float64(time.Second))
		}
		if at, err := http.ParseTime(value); err == nil {
			return time.Until(at)
		}
	}
	return kiotaBaseDelay<<min(attempt, kiotaMaxRetries) + time.Second
}

// retryAfterOf reads an answer's Retry-After (seconds or an HTTP date); 0 when absent,
// invalid or past. A longer one than bounds.RetryAfter is clamped to it, not dropped: the
// answer still says "throttled", and the step it defers asks again after the bound
// instead of after whatever the header says (a date in 2099 deferred the step past
// STEP_DEADLINE, and it failed).
func retryAfterOf(resp *http.Response, now time.Time) time.Duration {
	value := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if value == "" {
		return 0
	}
	if seconds, err := strconv.ParseFloat(value, 64); err == nil {
		if !(seconds > 0) { // also NaN
			return 0
		}
		if seconds > bounds.RetryAfter.Seconds() { // also +Inf, and more than a Duration holds
			return bounds.RetryAfter
		}
		return time.Duration(seconds * float64(time.Second))
	}
	if at, err := http.ParseTime(value); err == nil && at.After(now) {
		return bounds.ClampRetryAfter(at.Sub(now))
	}
	return 0
}

// attemptCopy gives every attempt its own copy of the body and headers.
//
// The retry handler rewinds one shared body before each retry, but net/http may still be
// reading that body after the response arrived (it checks for bytes beyond
// Content-Length in its write loop; RoundTrip may close the body "even after RoundTrip
// returns"). If the rewind wins, the extra-bytes check drains the body and the retry
// goes out empty. Reading the rewound body here, synchronously, and handing net/http a
// fresh reader keeps the shared one away from the transport.
type attemptCopy struct{}

func (attemptCopy) Intercept(pipeline khttp.Pipeline, index int, req *http.Request) (*http.Response, error) {
	attempt := req.WithContext(req.Context())
	attempt.Header = req.Header.Clone()
	if req.Body != nil && req.Body != http.NoBody {
		data, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, fmt.Errorf("reading request body: %w", err)
		}
		attempt.Body = io.NopCloser(bytes.NewReader(data))
		attempt.ContentLength = int64(len(data))
		attempt.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	return pipeline.Next(attempt, index)
}

// observedStatus carries, per call, the status of the last HTTP answer, so an error the
// SDK could not decode (an HTML 502 from a gateway) still maps to its real status, and its
// Retry-After, which the SDK's error models drop (a throttled step is deferred by it).
type observedStatus struct {
	status     atomic.Int32
	retryAfter atomic.Int64 // nanoseconds; 0 when the last answer had none
}

type observedStatusKey struct{}

func withObservedStatus(ctx context.Context) (context.Context, *observedStatus) {
	holder := &observedStatus{}
	return context.WithValue(ctx, observedStatusKey{}, holder), holder
}

func (o *observedStatus) get() int {
	if o == nil {
		return 0
	}
	return int(o.status.Load())
}

func (o *observedStatus) getRetryAfter() time.Duration {
	if o == nil {
		return 0
	}
	return time.Duration(o.retryAfter.Load())
}

// statusObserver is the innermost middleware: it sees every attempt's answer.
type statusObserver struct{}

func (statusObserver) Intercept(pipeline khttp.Pipeline, index int, req *http.Request) (*http.Response, error) {
	resp, err := pipeline.Next(req, index)
	if resp != nil {
		if holder, ok := req.Context().Value(observedStatusKey{}).(*observedStatus); ok {
			holder.status.Store(int32(resp.StatusCode))
			holder.retryAfter.Store(int64(retryAfterOf(resp, time.Now())))
		}
	}
	return resp, err
}
