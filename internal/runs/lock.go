package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// ErrLockBusy reports that a lock stayed held by someone else for as long as Lock waits.
var ErrLockBusy = errors.New("runs: lock held by another holder")

var lockNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// MaxLockTTL is the longest ttl Lock takes, and so the furthest ahead it ever writes a
// lock's expiry: a stored expiry further ahead than that (plus bounds.ClockSkew) was
// planted, and counts as expired (the lock is taken over) instead of blocking its holders
// for as long as it says. Five minutes is ten times the one lock the handler takes
// (globalAdminLockTTL, 30 s), and a holder that needs longer should not hold a
// tenant-wide lock.
const MaxLockTTL = 5 * time.Minute

// lockPartition keeps lock entities in the Limits table (tenant-wide coordination state
// lives there), apart from the hourly counters.
const lockPartition = "lock"

// Lock takes the tenant-wide lock called name for holder, across every handler instance:
// an entity inserted only if absent, or taken over with an ETag-guarded replace once the
// previous holder's ttl has passed (a holder that died never blocks for longer than its
// ttl). While another holder has it, Lock polls for at most ttl plus a little, then
// answers ErrLockBusy. release gives the lock up, unless another holder has already taken
// it over after expiry; it never fails and may be called once.
func (s *Store) Lock(ctx context.Context, name, holder string, ttl time.Duration) (release func(), err error) {
	etag, _, err := s.acquire(ctx, name, holder, ttl)
	if err != nil {
		return nil, err
	}
	return func() { s.unlock(name, etag) }, nil
}

// acquire takes the lock as Lock does, and answers its ETag and the time just before the
// write that took it (the lock is this holder's until at least that time plus ttl).
func (s *Store) acquire(ctx context.Context, name, holder string, ttl time.Duration) (azcore.ETag, time.Time, error) {
	if !lockNamePattern.MatchString(name) {
		return "", time.Time{}, fmt.Errorf("runs.Lock: invalid lock name %q", name)
	}
	if ttl <= 0 || ttl > MaxLockTTL {
		return "", time.Time{}, fmt.Errorf("runs.Lock: ttl %s out of range (0, %s]", ttl, MaxLockTTL)
	}
	if err := s.ensure(ctx); err != nil {
		return "", time.Time{}, err
	}
	giveUp := time.Now().Add(ttl + 2*time.Second)
	for {
		at := time.Now()
		etag, taken, err := s.tryLock(ctx, name, holder, ttl)
		if err != nil {
			return "", time.Time{}, err
		}
		if taken {
			return etag, at, nil
		}
		if time.Now().After(giveUp) {
			return "", time.Time{}, fmt.Errorf("runs.Lock %s: %w", name, ErrLockBusy)
		}
		// Jittered so that waiters do not all ask again at the same moment.
		wait := 50*time.Millisecond + rand.N(150*time.Millisecond)
		select {
		case <-ctx.Done():
			return "", time.Time{}, fmt.Errorf("runs.Lock %s: %w", name, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// tryLock makes one attempt: insert, or take over an expired lock.
func (s *Store) tryLock(ctx context.Context, name, holder string, ttl time.Duration) (etag azcore.ETag, taken bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	now := time.Now().UTC()
	e, _ := json.Marshal(map[string]any{
		"PartitionKey": lockPartition, "RowKey": name, "Holder": holder,
		"Expires": now.Add(ttl).Format(time.RFC3339Nano), "Expires@odata.type": "Edm.DateTime",
	})
	added, err := s.limits.AddEntity(ctx, e, nil)
	if err == nil {
		return added.ETag, true, nil
	}
	if !hasStatus(err, http.StatusConflict) {
		return "", false, fmt.Errorf("runs.Lock %s: %w: %w", name, ErrUnavailable, err)
	}
	got, err := s.limits.GetEntity(ctx, lockPartition, name, nil)
	if hasStatus(err, http.StatusNotFound) {
		return "", false, nil // released meanwhile: insert again
	}
	if err != nil {
		return "", false, fmt.Errorf("runs.Lock %s: %w: %w", name, ErrUnavailable, err)
	}
	var m entity
	if err := json.Unmarshal(got.Value, &m); err != nil {
		return "", false, fmt.Errorf("runs.Lock %s: decode: %w", name, err)
	}
	if expires := m.time("Expires"); expires != nil && now.Before(*expires) && !s.beyond("lock/"+name, *expires, now, MaxLockTTL) {
		return "", false, nil
	}
	// The holder's time is up (it died, or hung), or its expiry is not one Lock wrote: take
	// over, unless another waiter did.
	old := got.ETag
	updated, err := s.limits.UpdateEntity(ctx, e, &aztables.UpdateEntityOptions{IfMatch: &old, UpdateMode: aztables.UpdateModeReplace})
	switch {
	case err == nil:
		return updated.ETag, true, nil
	case hasStatus(err, http.StatusPreconditionFailed), hasStatus(err, http.StatusNotFound):
		return "", false, nil
	}
	return "", false, fmt.Errorf("runs.Lock %s: %w: %w", name, ErrUnavailable, err)
}

// unlock deletes the lock entity if it is still the one this holder wrote. It runs even
// when the caller's context has ended: a lock left behind would block others for its ttl.
func (s *Store) unlock(name string, etag azcore.ETag) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	// A failure here (taken over after expiry: 412; storage unreachable) leaves the
	// entity to expire on its own.
	_, _ = s.limits.DeleteEntity(ctx, lockPartition, name, &aztables.DeleteEntityOptions{IfMatch: &etag})
}

// ErrLockLost reports that a held lock is no longer certainly this holder's: another holder
// took it over, or it could not be renewed in time (storage unreachable, a process that
// stalled), or it was held for longer than MaxLockTTL.
var ErrLockLost = errors.New("runs: lock no longer held")

// Lease is a lock held while its work runs (Store.Hold).
type Lease interface {
	// Held answers nil while the lock is certainly still this holder's, ErrLockLost once it
	// may not be: work the lock guards asks it right before each change and does not make
	// the change otherwise.
	Held() error
	// Release stops the renewals and gives the lock up (as Lock's release). It may be
	// called more than once.
	Release()
}

// Hold takes the lock as Lock does and keeps it for as long as its work runs: every ttl/3
// it extends the expiry with an ETag-guarded replace, so a slow step (a Graph call that
// takes longer than ttl) never runs on after the lock expired and another holder took it.
// A holder that dies stops renewing, and its lock expires after ttl as before. The lease is
// renewed for at most MaxLockTTL in all: a holder that needs longer should not hold a
// tenant-wide lock, and its Held turns ErrLockLost.
func (s *Store) Hold(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	etag, at, err := s.acquire(ctx, name, holder, ttl)
	if err != nil {
		return nil, err
	}
	l := &lease{store: s, name: name, holder: holder, ttl: ttl, etag: etag, until: at.Add(ttl - leaseMargin(ttl)),
		renewUntil: at.Add(MaxLockTTL), stop: make(chan struct{}), done: make(chan struct{})}
	go l.renew()
	return l, nil
}

// leaseMargin is how long before the written expiry a holder stops counting on its lock: a
// renewal write that is slow to answer must not leave the holder believing in a lock that
// another instance already sees as expired.
func leaseMargin(ttl time.Duration) time.Duration { return ttl / 4 }

type lease struct {
	store        *Store
	name, holder string
	ttl          time.Duration
	renewUntil   time.Time
	stop, done   chan struct{}
	once         sync.Once

	mu    sync.Mutex
	etag  azcore.ETag
	until time.Time // the lock is this holder's until then, unless lost
	lost  error
}

func (l *lease) Held() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.lost != nil:
		return l.lost
	case !time.Now().Before(l.until):
		return fmt.Errorf("runs.Lock %s: %w: its expiry passed before it could be renewed", l.name, ErrLockLost)
	}
	return nil
}

func (l *lease) Release() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		l.mu.Lock()
		etag, lost := l.etag, l.lost
		l.mu.Unlock()
		if lost == nil {
			l.store.unlock(l.name, etag)
		}
	})
}

// renew extends the lock every ttl/3 until Release, a takeover, or MaxLockTTL.
func (l *lease) renew() {
	defer close(l.done)
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		at := time.Now()
		if at.Add(l.ttl).After(l.renewUntil) {
			l.mu.Lock()
			l.lost = fmt.Errorf("runs.Lock %s: %w: held for longer than %s", l.name, ErrLockLost, MaxLockTTL)
			l.mu.Unlock()
			l.store.log().Warn("a lock was held for longer than its renewals allow; it is left to expire", "lock", l.name, "holder", l.holder, "max", MaxLockTTL)
			return
		}
		l.mu.Lock()
		etag := l.etag
		l.mu.Unlock()
		next, err := l.store.extend(l.name, l.holder, l.ttl, etag)
		l.mu.Lock()
		switch {
		case err == nil:
			l.etag, l.until = next, at.Add(l.ttl-leaseMargin(l.ttl))
		case errors.Is(err, ErrLockLost):
			l.lost = err
		}
		// Another failure (storage unreachable) is tried again at the next tick; until then
		// Held answers from the last expiry written.
		lost := l.lost
		l.mu.Unlock()
		if lost != nil {
			l.store.log().Error("a held lock was taken over by another holder", "lock", l.name, "holder", l.holder, "err", lost)
			return
		}
	}
}

// extend replaces the lock entity with a later expiry, only if it is still the one this
// holder wrote (etag).
func (s *Store) extend(name, holder string, ttl time.Duration, etag azcore.ETag) (azcore.ETag, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	e, _ := json.Marshal(map[string]any{
		"PartitionKey": lockPartition, "RowKey": name, "Holder": holder,
		"Expires": time.Now().UTC().Add(ttl).Format(time.RFC3339Nano), "Expires@odata.type": "Edm.DateTime",
	})
	updated, err := s.limits.UpdateEntity(ctx, e, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	switch {
	case err == nil:
		return updated.ETag, nil
	case hasStatus(err, http.StatusPreconditionFailed), hasStatus(err, http.StatusNotFound):
		return "", fmt.Errorf("runs.Lock %s: %w: taken over by another holder", name, ErrLockLost)
	}
	return "", fmt.Errorf("runs.Lock %s: %w: %w", name, ErrUnavailable, err)
}
