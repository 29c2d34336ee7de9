package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Runs that wait for approval are listed in one partition of the RunIndex table:
//
//	<prefix>RunIndex  PK="approval"  RK=<deadline, 19-digit Unix nanoseconds>-<runId>
//
// so the timer finds the runs whose approval window has closed with one partition query
// (RowKey below "now"), however many runs the tables hold. The entry is written before the
// run and removed after the run's decision; an entry whose run is not waiting any more (the
// removal failed) or never was recorded (its creation failed) is removed when the timer
// meets it.
const awaitingPartition = "approval"

// Awaiting names a run that waits for approval and when its window closes.
type Awaiting struct {
	RunID    string
	Deadline time.Time
}

func awaitingRowKey(a Awaiting) string {
	return fmt.Sprintf("%019d-%s", a.Deadline.UnixNano(), a.RunID)
}

// AddAwaiting lists a run as waiting for approval until its deadline.
func (s *Store) AddAwaiting(ctx context.Context, a Awaiting) error {
	if !ValidRunID(a.RunID) {
		return fmt.Errorf("runs.AddAwaiting %q: invalid run id", a.RunID)
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	e, _ := json.Marshal(map[string]any{"PartitionKey": awaitingPartition, "RowKey": awaitingRowKey(a), "RunID": a.RunID})
	if _, err := s.index.UpsertEntity(ctx, e, nil); err != nil {
		return fmt.Errorf("runs.AddAwaiting %s: %w: %w", a.RunID, ErrUnavailable, err)
	}
	return nil
}

// DropAwaiting removes a run's entry (it was decided, or expired).
func (s *Store) DropAwaiting(ctx context.Context, a Awaiting) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.index.DeleteEntity(ctx, awaitingPartition, awaitingRowKey(a), nil)
	if err != nil && !hasStatus(err, http.StatusNotFound) {
		return fmt.Errorf("runs.DropAwaiting %s: %w: %w", a.RunID, ErrUnavailable, err)
	}
	return nil
}

// AwaitingDue lists, earliest deadline first, up to limit runs whose approval window closed
// before now.
func (s *Store) AwaitingDue(ctx context.Context, now time.Time, limit int) ([]Awaiting, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	filter := fmt.Sprintf("PartitionKey eq '%s' and RowKey lt '%019d'", awaitingPartition, now.UnixNano())
	top := int32(min(limit, 1000))
	pager := s.index.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top})
	var out []Awaiting
	for pager.More() && len(out) < limit {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("runs.AwaitingDue: %w: %w", ErrUnavailable, err)
		}
		for _, raw := range page.Entities {
			var m entity
			if json.Unmarshal(raw, &m) != nil || len(out) >= limit {
				continue
			}
			nanos, runID, ok := strings.Cut(m.str("RowKey"), "-")
			var n int64
			if _, err := fmt.Sscanf(nanos, "%d", &n); !ok || err != nil || !ValidRunID(runID) {
				continue
			}
			out = append(out, Awaiting{RunID: runID, Deadline: time.Unix(0, n).UTC()})
		}
	}
	return out, nil
}
