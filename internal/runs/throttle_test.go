package runs_test

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestSharedNotBeforeKeepsTheLatest: concurrent instances write their Retry-After into the
// shared "not before"; the latest wins whatever the order, and an earlier one never
// shortens it.
func TestSharedNotBeforeKeepsTheLatest(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if at, err := s.NotBefore(ctx, "graph"); err != nil || !at.IsZero() {
		t.Fatalf("before any throttling: %v %v", at, err)
	}
	base := time.Now().UTC().Truncate(time.Millisecond)
	var wg sync.WaitGroup
	for i := 1; i <= 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.HoldUntil(ctx, "graph", base.Add(time.Duration(i)*time.Second)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	latest := base.Add(8 * time.Second)
	if at, err := s.NotBefore(ctx, "graph"); err != nil || !at.Equal(latest) {
		t.Fatalf("not before %v (%v), want the latest %v", at, err, latest)
	}
	if inForce, err := s.HoldUntil(ctx, "graph", base.Add(time.Second)); err != nil || !inForce.Equal(latest) {
		t.Fatalf("an earlier time shortened the wait: %v %v", inForce, err)
	}
	if at, _ := s.NotBefore(ctx, "exchange"); !at.IsZero() {
		t.Errorf("exchange is held back by graph's throttling: %v", at)
	}
	if _, err := s.NotBefore(ctx, "Graph/../x"); err == nil {
		t.Error("an invalid service name was accepted as a row key")
	}
}
