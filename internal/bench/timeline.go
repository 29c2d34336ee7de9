package bench

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// Call is one request of a run, to Table Storage or to the tenant, with when it was sent
// and answered: a run's timeline shows what Tourniquet waits for between the tenant's
// requests (go run ./cmd/bench -only latency -trace DIR).
type Call struct {
	Start, End time.Time
	Service    string // "table", "graph" or "exchange"
	What       string // "PUT Runs(PartitionKey='…',RowKey='step-reset-password')", "GET /v1.0/users/…", "Set-Mailbox"
}

// TenantCalls are the Graph and Exchange requests of a simulator's log as calls.
func TenantCalls(log []tenantsim.Request) []Call {
	var calls []Call
	for _, r := range log {
		if r.Service != tenantsim.ServiceGraph && r.Service != tenantsim.ServiceExchange || r.InBatch || r.Start.IsZero() {
			continue
		}
		what := r.Method + " " + r.Path
		if r.Cmdlet != "" {
			what = r.Cmdlet
		}
		calls = append(calls, Call{Start: r.Start, End: r.End, Service: r.Service, What: what})
	}
	return calls
}

// tableCall names a Table Storage request by its method and the table and keys it
// addresses, without the account.
func tableCall(method string, u *url.URL, start, end time.Time) Call {
	path, err := url.PathUnescape(u.EscapedPath())
	if err != nil {
		path = u.Path
	}
	if i := strings.Index(strings.TrimPrefix(path, "/"), "/"); i >= 0 {
		path = strings.TrimPrefix(path, "/")[i+1:] // the account (Azurite's path style)
	}
	if u.RawQuery != "" {
		if q, err := url.QueryUnescape(u.RawQuery); err == nil && strings.Contains(q, "$filter") {
			path += "?" + q
		}
	}
	return Call{Start: start, End: end, Service: "table", What: method + " " + strings.TrimPrefix(path, "/")}
}

// Timeline lays calls out one a line, ordered by when they were sent: start and end in
// milliseconds from begin, the duration, the service and the call.
func Timeline(begin time.Time, calls []Call) string {
	sorted := append([]Call(nil), calls...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var b strings.Builder
	fmt.Fprintf(&b, "%8s %8s %7s  %-8s %s\n", "start", "end", "took", "service", "call")
	for _, c := range sorted {
		fmt.Fprintf(&b, "%8.1f %8.1f %7.1f  %-8s %s\n", ms(c.Start.Sub(begin)), ms(c.End.Sub(begin)), ms(c.End.Sub(c.Start)), c.Service, c.What)
	}
	return b.String()
}
