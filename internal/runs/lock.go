package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
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
	if !lockNamePattern.MatchString(name) {
		return nil, fmt.Errorf("runs.Lock: invalid lock name %q", name)
	}
	if ttl <= 0 || ttl > MaxLockTTL {
		return nil, fmt.Errorf("runs.Lock: ttl %s out of range (0, %s]", ttl, MaxLockTTL)
	}
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	giveUp := time.Now().Add(ttl + 2*time.Second)
	for {
		etag, taken, err := s.tryLock(ctx, name, holder, ttl)
		if err != nil {
			return nil, err
		}
		if taken {
			return func() { s.unlock(name, etag) }, nil
		}
		if time.Now().After(giveUp) {
			return nil, fmt.Errorf("runs.Lock %s: %w", name, ErrLockBusy)
		}
		// Jittered so that waiters do not all ask again at the same moment.
		wait := 50*time.Millisecond + rand.N(150*time.Millisecond)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("runs.Lock %s: %w", name, ctx.Err())
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
