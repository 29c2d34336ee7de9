package hostemu

import (
	"context"
	"sync"
)

// gate holds the queue pollers back while the handler is down (between Kill and
// Restart), as the host stops dispatching while it restarts a worker.
type gate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) openGate() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !isClosed(g.open) {
		close(g.open)
	}
}

func (g *gate) closeGate() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if isClosed(g.open) {
		g.open = make(chan struct{})
	}
}
