package remediation_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/identity"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// TestInvestigationCostAgainstASlowTenant measures a 7-day investigation of the demo user
// against the simulator with 50 ms per request: how many requests, how long. The sources
// are read concurrently, so it takes about as long as the longest source, not the sum.
// With the realistic page size it is measured sync and async (the async budget is longer;
// the reads are the same) and with Graph's message trace provisioned (no Get-MessageTraceV2
// fallback).
func TestInvestigationCostAgainstASlowTenant(t *testing.T) {
	t.Parallel()
	const latency = 50 * time.Millisecond
	type variant struct {
		pageSize           int
		async, provisioned bool
	}
	for _, v := range []variant{{2, false, false}, {100, false, false}, {100, true, false}, {100, false, true}} {
		pageSize := v.pageSize
		sim := tenantsim.New(tenantsim.Options{Latency: latency, PageSize: pageSize})
		if _, err := sim.Start(); err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		demo := tenantsim.SeedDemo(sim)
		sim.SetMessageTraceServicePrincipal(v.provisioned)
		cred, err := identity.NewCredential(os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := graph.New(graph.Options{BaseURL: sim.GraphURL(), Credential: cred})
		x, _ := exchange.New(exchange.Options{BaseURL: sim.ExchangeURL(), TenantID: sim.TenantID(), Credential: cred})
		r := &steps.Runner{Directory: g, Mailboxes: x, AuditLogs: g, MailLogs: x}
		// Warm the token cache so the figure is the investigation's own.
		if _, err := g.GetUser(context.Background(), demo.UserID); err != nil {
			t.Fatal(err)
		}
		sim.ResetRequests()
		began := time.Now()
		out := r.Run(context.Background(), steps.Investigate, steps.Input{Target: steps.Target{ID: demo.UserID, UPN: demo.UPN, Mail: demo.UPN}, Async: v.async})
		took := time.Since(began)
		if out.Status != runs.StepSucceeded || len(out.Findings.Unavailable) != 0 {
			t.Fatalf("investigate %s %+v", out.Status, out.Findings)
		}
		by := map[string]int{}
		for _, req := range sim.Requests() {
			key := req.Cmdlet
			if key == "" {
				key = req.Method + " " + req.Path[strings.LastIndex(req.Path, "/")+1:]
			}
			by[key]++
		}
		n := len(sim.Requests())
		// With pages of 2 the message trace alone is 44 requests in a row, so only the
		// realistic page size shows the sources overlapping.
		if sequential := time.Duration(n) * latency; pageSize >= 100 && took >= sequential {
			t.Errorf("page size %d: %d requests took %s, no faster than one after the other (%s)", pageSize, n, took, sequential)
		}
		t.Logf("page size %d, async %v, message trace service principal %v: 7-day investigation of the demo user: %d requests %v, %s at %s per request (%d events)",
			pageSize, v.async, v.provisioned, n, by, took.Round(time.Millisecond), latency, len(out.Findings.Timeline))
	}
}
