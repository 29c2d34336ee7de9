package runs_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/runs"
)

func TestLockAdmitsOneHolderAtATime(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	var inside, peak, entered atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := s.Lock(ctx, "global-administrator", "run-"+string(rune('a'+i)), 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(30 * time.Millisecond)
			inside.Add(-1)
			entered.Add(1)
			release()
		}()
	}
	wg.Wait()
	if peak.Load() != 1 || entered.Load() != 6 {
		t.Fatalf("peak holders %d, entered %d; want 1 and 6", peak.Load(), entered.Load())
	}
}

func TestLockOfADeadHolderExpires(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	// The first holder never releases (its process died).
	if _, err := s.Lock(ctx, "dead-holder", "crashed-run", 800*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	release, err := s.Lock(ctx, "dead-holder", "next-run", 800*time.Millisecond)
	if err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Fatalf("took the lock after %v, before the dead holder's ttl ran out", waited)
	}
	release()
	// Released: the next one gets it at once.
	start = time.Now()
	release, err = s.Lock(ctx, "dead-holder", "third-run", 800*time.Millisecond)
	if err != nil || time.Since(start) > 400*time.Millisecond {
		t.Fatalf("after release: %v after %v", err, time.Since(start))
	}
	release()
}

func TestLockGivesUpWhileHeldAndReleaseAfterTakeoverIsHarmless(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	staleRelease, err := s.Lock(ctx, "busy", "slow-run", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Taken over after expiry by another holder with a long ttl...
	release, err := s.Lock(ctx, "busy", "next-run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// ...the slow holder's late release must not free the new holder's lock.
	staleRelease()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, "busy", "third-run", time.Minute); err == nil {
		t.Fatal("a stale release freed the lock of the holder that took it over")
	}
	release()
	if _, err := s.Lock(ctx, "bad name/../x", "run", time.Second); err == nil || errors.Is(err, runs.ErrLockBusy) {
		t.Fatalf("invalid name: %v", err)
	}
}

// TestHeldLockIsRenewedWhileItsWorkRuns: a lease (Hold) outlives its ttl while its holder
// works; nobody else takes the lock meanwhile, and Release frees it at once.
func TestHeldLockIsRenewedWhileItsWorkRuns(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	lease, err := s.Hold(ctx, "slow-work", "slow-run", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Four ttls of work: a plain lock would have expired three times over.
	time.Sleep(1200 * time.Millisecond)
	if err := lease.Held(); err != nil {
		t.Fatalf("a renewed lease: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, "slow-work", "next-run", time.Second); err == nil {
		t.Fatal("another holder took a lock that was renewed while its work ran")
	}
	lease.Release()
	lease.Release() // harmless
	start := time.Now()
	release, err := s.Lock(ctx, "slow-work", "next-run", time.Second)
	if err != nil || time.Since(start) > 400*time.Millisecond {
		t.Fatalf("after release: %v after %v", err, time.Since(start))
	}
	release()
}

// TestLeaseTakenOverSaysSo: when the lock entity is no longer the one the holder wrote (it
// was taken over, or deleted), the next renewal finds out and Held answers ErrLockLost.
func TestLeaseTakenOverSaysSo(t *testing.T) {
	t.Parallel()
	s, prefix := newStoreNamed(t)
	ctx := context.Background()
	lease, err := s.Hold(ctx, "taken", "slow-run", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	// Someone writes over the lock (a takeover after an expiry this holder did not see).
	e := []byte(`{"PartitionKey":"lock","RowKey":"taken","Holder":"other-run","Expires":"` + time.Now().UTC().Add(time.Minute).Format(time.RFC3339Nano) + `","Expires@odata.type":"Edm.DateTime"}`)
	if _, err := tableSvc.NewClient(prefix+"Limits").UpsertEntity(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for lease.Held() == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := lease.Held(); !errors.Is(err, runs.ErrLockLost) {
		t.Fatalf("Held after a takeover: %v", err)
	}
	lease.Release()
	// The release of a lost lease leaves the new holder's lock alone.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, "taken", "third-run", time.Second); err == nil {
		t.Fatal("the release of a lost lease freed the new holder's lock")
	}
}
