package bench

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// Counts summarises a simulator request log.
type Counts struct {
	Graph, Exchange int // requests that reached Graph / Exchange (batch items counted once each)
	Throttled       int // of those, answered 429
}

// Count tallies the Graph and Exchange requests of a log (token requests left out).
func Count(log []tenantsim.Request) Counts {
	var c Counts
	for _, r := range log {
		switch {
		case r.Service == tenantsim.ServiceGraph && !strings.HasSuffix(r.Path, "/$batch"):
			c.Graph++
		case r.Service == tenantsim.ServiceExchange:
			c.Exchange++
		default:
			continue
		}
		if r.Status == 429 {
			c.Throttled++
		}
	}
	return c
}

// AppliedWrites counts, per target, the writes the simulator carried out: requests that
// could change the tenant and were answered 2xx (an injected fault is answered before the
// request reaches the tenant, so a failed write changed nothing). The key names the
// target, e.g. "PATCH /v1.0/users/<id>" or "Disable-InboxRule <identity>"; a key counted
// more than once is a change applied twice.
func AppliedWrites(log []tenantsim.Request) map[string]int {
	out := map[string]int{}
	for _, r := range log {
		if r.Status < 200 || r.Status > 299 {
			continue
		}
		if key := writeKey(r); key != "" {
			out[key]++
		}
	}
	return out
}

// Duplicates lists the keys of writes applied more than once, sorted.
func Duplicates(applied map[string]int) []string {
	var dup []string
	for k, n := range applied {
		if n > 1 {
			dup = append(dup, k)
		}
	}
	sort.Strings(dup)
	return dup
}

func writeKey(r tenantsim.Request) string {
	switch r.Service {
	case tenantsim.ServiceGraph:
		if r.Method == "GET" || strings.HasSuffix(r.Path, "/$batch") {
			return ""
		}
		if strings.HasSuffix(r.Path, "ScheduleRequests") {
			// One endpoint for every schedule change: the target is in the body.
			var b struct {
				Action, PrincipalID, RoleDefinitionID, DirectoryScopeID string
			}
			_ = json.Unmarshal(r.Body, &b)
			return r.Method + " " + r.Path + " " + b.Action + " " + b.PrincipalID + " " + b.RoleDefinitionID + " " + b.DirectoryScopeID
		}
		return r.Method + " " + r.Path
	case tenantsim.ServiceExchange:
		if r.Cmdlet == "" || strings.HasPrefix(r.Cmdlet, "Get-") {
			return ""
		}
		var b struct {
			CmdletInput struct {
				Parameters map[string]any
			}
		}
		_ = json.Unmarshal(r.Body, &b)
		key := r.Cmdlet
		for _, p := range []string{"Identity", "SenderAddress", "Mailbox"} {
			for name, v := range b.CmdletInput.Parameters {
				if strings.EqualFold(name, p) {
					if s, ok := v.(string); ok {
						key += " " + strings.ToLower(s)
					}
				}
			}
		}
		return key
	}
	return ""
}

// ChainDepth is the longest chain of Graph and Exchange requests in log of which each
// started only after the one before had been answered: the dependent round trips a run
// actually made, whatever the latency. It checks a hand-derived critical path against the
// code as it runs (a larger depth means a step asks in sequence what it could ask at once).
func ChainDepth(log []tenantsim.Request) int { return len(LongestChain(log)) }

// LongestChain is that chain itself, oldest first, to see which calls make it up.
func LongestChain(log []tenantsim.Request) []tenantsim.Request {
	var reqs []tenantsim.Request
	for _, r := range log {
		if (r.Service == tenantsim.ServiceGraph || r.Service == tenantsim.ServiceExchange) && !r.InBatch && !r.Start.IsZero() {
			reqs = append(reqs, r)
		}
	}
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Start.Before(reqs[j].Start) })
	depth, prev := make([]int, len(reqs)), make([]int, len(reqs))
	end := -1
	for i, r := range reqs {
		depth[i], prev[i] = 1, -1
		for j := 0; j < i; j++ {
			if !reqs[j].End.After(r.Start) && depth[j]+1 > depth[i] {
				depth[i], prev[i] = depth[j]+1, j
			}
		}
		if end < 0 || depth[i] > depth[end] {
			end = i
		}
	}
	var chain []tenantsim.Request
	for i := end; i >= 0; i = prev[i] {
		chain = append([]tenantsim.Request{reqs[i]}, chain...)
	}
	return chain
}
