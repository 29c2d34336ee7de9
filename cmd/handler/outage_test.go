package main

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/bench"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// switchProxy forwards TCP connections on a fixed loopback port to target while up; when
// down it closes the listener and every open connection, so the port refuses connections
// as a store that went away does. It comes back on the same port, which an Azurite
// restart cannot promise (internal/azurite picks free ports on every start).
type switchProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	p := &switchProxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *switchProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *switchProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *switchProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *switchProxy) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy back on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// TestQueuedWorkResumesWhenTheStoreReturns extends TestStoreOutageAnswers503AndChangesNothing:
// a remediation message that arrives while Table Storage is down changes nothing in the
// tenant and fails its deliveries; once the store is back, a redelivery starts the run and
// it completes, once.
func TestQueuedWorkResumesWhenTheStoreReturns(t *testing.T) {
	t.Parallel()
	storage, err := azurite.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = storage.Stop() })
	tableHostPort := strings.SplitN(strings.TrimPrefix(storage.TableURL, "http://"), "/", 2)[0]
	proxy := newSwitchProxy(t, tableHostPort)
	viaProxy := strings.Replace(storage.ConnectionString, tableHostPort, proxy.addr, 1)

	s, victims := startSlowStackOn(t, storage, "AzureWebJobsStorage="+viaProxy)
	v := victims[0]

	proxy.down()
	// Health caches its answer for up to 5 s (healthTTL): a check made while the stack
	// started may still be served, so it is asked until that has passed.
	waitFor(t, 10*time.Second, func() bool { return call(t, s.host, "GET", "/api/health", nil).status == 503 })
	s.sim.ResetRequests()
	s.enqueueRemediations(victims[:1])
	time.Sleep(3 * time.Second) // at least one delivery fails while the store is down
	for _, req := range s.sim.Requests() {
		if req.Service == "graph" && req.Method != "GET" || req.Service == "exchange" && !strings.HasPrefix(req.Cmdlet, "Get-") {
			t.Fatalf("the tenant changed while the store was down: %s %s %s", req.Method, req.Path, req.Cmdlet)
		}
	}
	proxy.up(t)
	s.waitIdle()

	list := s.runsOf(v.UPN)
	if len(list) != 1 || list[0].Status != runs.Succeeded {
		t.Fatalf("after the store returned: %d runs %+v\n%s", len(list), list, s.output.String())
	}
	if n := len(s.sim.PasswordResets(v.ID)); n != 1 {
		t.Fatalf("password reset %d times, want 1", n)
	}
	if dup := bench.Duplicates(bench.AppliedWrites(s.sim.Requests())); len(dup) > 0 {
		t.Fatalf("applied twice: %v", dup)
	}
}
