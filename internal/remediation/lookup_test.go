package remediation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// A queued start whose user lookup Graph throttles past the client's own retries asks
// again after the Retry-After instead of failing its delivery: a failed delivery would
// come back only after the host's visibility timeout (30 s), and a surge of queued starts
// is when the tenant throttles.
func TestQueuedStartWaitsOutAThrottledUserLookup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{RedeliveryDelay: hostQueues.VisibilityTimeout})
	// The test client retries once, so each lookup is two requests: the first two lookups
	// are throttled, the third is served.
	e.sim.ThrottleNext(4, "GET /v1.0/users/"+e.demo.UPN, 0)
	begin := time.Now()
	started, err := e.svc.Start(t.Context(), remediation.StartRequest{User: e.demo.UPN, Steps: []string{"remove-forwarding"}, Reason: "INC-3", FromQueue: true, RequestedBy: "queue:remediations"})
	if err != nil {
		t.Fatalf("queued start: %v, want it to wait out the throttling", err)
	}
	if started.Run.Status != runs.Queued && started.Run.Status != runs.Running {
		t.Fatalf("run %s", started.Run.Status)
	}
	if took := time.Since(begin); took < 2*time.Second {
		t.Errorf("started after %v: the lookups were not spaced by the Retry-After floor of 1 s", took)
	}
	if n := strings.Count(e.logs.String(), "user lookup throttled"); n != 2 {
		t.Errorf("%d throttled lookups logged, want 2", n)
	}
}

// An HTTP caller is waiting for its answer: its start fails at once, naming Graph, and
// records nothing.
func TestHTTPStartFailsAtOnceOnAThrottledUserLookup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	e.sim.ThrottleNext(2, "GET /v1.0/users/"+e.demo.UPN, 0)
	_, err := e.svc.Start(t.Context(), remediation.StartRequest{User: e.demo.UPN, Steps: []string{"remove-forwarding"}, Reason: "INC-3"})
	if apperr.CodeOf(err) != apperr.Upstream {
		t.Fatalf("HTTP start: %v, want upstream_error", err)
	}
	if list, lerr := e.svc.List(t.Context(), e.demo.UPN); lerr != nil || len(list) != 0 {
		t.Fatalf("runs after a failed lookup: %d (%v)", len(list), lerr)
	}
}

// Waiting is worth it only while it is shorter than the host's redelivery: with messages
// delivered again at once (visibilityTimeout 0), a throttled queued start fails its
// delivery at once, as before.
func TestQueuedStartFailsAtOnceWhenTheHostRedeliversAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{RedeliveryDelay: 0})
	e.sim.ThrottleNext(2, "GET /v1.0/users/"+e.demo.UPN, 0)
	_, err := e.svc.Start(t.Context(), remediation.StartRequest{User: e.demo.UPN, Steps: []string{"remove-forwarding"}, FromQueue: true, RequestedBy: "queue:remediations"})
	if apperr.CodeOf(err) != apperr.Upstream {
		t.Fatalf("queued start: %v, want upstream_error", err)
	}
}
