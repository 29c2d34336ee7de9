package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/bounds"
)

// throttlePartition keeps each service's shared "not before" in the Limits table, beside
// the other tenant-wide coordination state: PK="throttle", RK=<service>.
const throttlePartition = "throttle"

var serviceNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// NotBefore returns the time before which no instance should call service (the zero time
// when none is set): the latest Retry-After any instance was given by that service. A
// stored time further ahead than bounds.RetryAfter (the longest Retry-After HoldUntil
// writes) is not the handler's: it counts as none, and is logged.
func (s *Store) NotBefore(ctx context.Context, service string) (time.Time, error) {
	at, _, err := s.notBefore(ctx, service)
	return at, err
}

func (s *Store) notBefore(ctx context.Context, service string) (time.Time, azcore.ETag, error) {
	if !serviceNamePattern.MatchString(service) {
		return time.Time{}, "", fmt.Errorf("runs.NotBefore: invalid service name %q", service)
	}
	if err := s.ensure(ctx); err != nil {
		return time.Time{}, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	got, err := s.limits.GetEntity(ctx, throttlePartition, service, nil)
	if hasStatus(err, http.StatusNotFound) {
		return time.Time{}, "", nil
	}
	if err != nil {
		return time.Time{}, "", fmt.Errorf("runs.NotBefore %s: %w: %w", service, ErrUnavailable, err)
	}
	var m entity
	if err := json.Unmarshal(got.Value, &m); err != nil {
		return time.Time{}, "", fmt.Errorf("runs.NotBefore %s: decode: %w", service, err)
	}
	if at := m.time("NotBefore"); at != nil && !s.beyond("throttle/"+service, *at, time.Now(), bounds.RetryAfter) {
		return *at, got.ETag, nil
	}
	return time.Time{}, got.ETag, nil
}

// HoldUntil moves service's shared "not before" to at, unless it is already later; it
// returns the value in force afterwards. Concurrent writers are ordered by ETag, so a
// shorter wait never overwrites a longer one. at is capped at bounds.RetryAfter from now,
// the furthest a "not before" is ever written (and so believed when read back); an
// implausible value found in the row is replaced.
func (s *Store) HoldUntil(ctx context.Context, service string, at time.Time) (time.Time, error) {
	at = minTime(at, time.Now().Add(bounds.RetryAfter))
	for attempt := 0; attempt < 5; attempt++ {
		current, etag, err := s.notBefore(ctx, service)
		if err != nil {
			return time.Time{}, err
		}
		if !current.Before(at) {
			return current, nil
		}
		e, _ := json.Marshal(map[string]any{
			"PartitionKey": throttlePartition, "RowKey": service,
			"NotBefore": at.UTC().Format(time.RFC3339Nano),
		})
		wctx, cancel := context.WithTimeout(ctx, s.timeout)
		if etag == "" {
			_, err = s.limits.AddEntity(wctx, e, nil)
		} else {
			_, err = s.limits.UpdateEntity(wctx, e, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
		}
		cancel()
		switch {
		case err == nil:
			return at, nil
		case hasStatus(err, http.StatusConflict), hasStatus(err, http.StatusPreconditionFailed):
			continue // another instance wrote meanwhile: compare again
		default:
			return time.Time{}, fmt.Errorf("runs.HoldUntil %s: %w: %w", service, ErrUnavailable, err)
		}
	}
	return time.Time{}, fmt.Errorf("runs.HoldUntil %s: %w", service, ErrConflict)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
