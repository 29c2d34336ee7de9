package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Verdicts of an eviction watch (contract section 1.3).
const (
	WatchWatching     = "watching"
	WatchNoReturnSeen = "no_return_seen"
	WatchReturned     = "returned"
)

// Watch is the eviction watch of a run: after its steps end, every Interval until Until,
// read-only checks of the user's sign-ins, forwarding and inbox rules (contract 1.3).
type Watch struct {
	Until         time.Time     `json:"until"`
	Interval      string        `json:"interval"` // a Go duration, e.g. "15m0s"
	Checks        int           `json:"checks"`
	LastCheckAt   *time.Time    `json:"lastCheckAt"`
	Verdict       string        `json:"verdict"`
	Hits          []WatchHit    `json:"hits"`
	RecontainRuns []string      `json:"recontainRuns"`
	Unavailable   []Unavailable `json:"unavailable"`
	// Checked says, in words, what the watch looks at (shown by the report page).
	Checked []string `json:"checked,omitempty"`
	// Notes says what the watch read less of than it could, though its sources answered: the
	// non-interactive sign-ins where Graph's beta endpoint refuses (v1.0 lists interactive
	// ones only). Not in Unavailable, which names the sources the tenant does not allow.
	Notes []string `json:"notes,omitempty"`
	// StoppedBy, StoppedAt and StopReason record a watch a person stopped before its end.
	StoppedBy  string     `json:"stoppedBy,omitempty"`
	StoppedAt  *time.Time `json:"stoppedAt,omitempty"`
	StopReason string     `json:"stopReason,omitempty"`
}

// WatchHit is one sign of the attacker's return.
type WatchHit struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // sign-in | forwarding | inbox-rule
	IP     string    `json:"ip,omitempty"`
	Detail string    `json:"detail"`
}

// WatchBaseline is the watch's own bookkeeping, kept with the run but not shown: what the
// mailbox looked like at the first check (so only what came back is a hit), and how far the
// sign-ins were read.
type WatchBaseline struct {
	ForwardingTaken bool      `json:"forwardingTaken,omitempty"`
	Forwarding      string    `json:"forwarding,omitempty"`
	RulesTaken      bool      `json:"rulesTaken,omitempty"`
	Rules           []string  `json:"rules,omitempty"` // flagged rule identities present then
	SignInsReadTo   time.Time `json:"signInsReadTo"`
	SeenSignInIDs   []string  `json:"seenSignInIds,omitempty"`
	Ended           bool      `json:"ended,omitempty"`
}

// IntervalDuration is Interval parsed (15 minutes when it does not parse).
func (w *Watch) IntervalDuration() time.Duration {
	d, err := time.ParseDuration(w.Interval)
	if err != nil || d <= 0 {
		return 15 * time.Minute
	}
	return d
}

// Runs whose watch goes on are listed in one partition of the RunIndex table, so the
// recovery timer finds a watch whose next check message was lost:
//
//	<prefix>RunIndex  PK="watch"  RK=<runId>
const watchPartition = "watch"

// AddWatching lists a run as watched.
func (s *Store) AddWatching(ctx context.Context, runID string) error {
	if !ValidRunID(runID) {
		return fmt.Errorf("runs.AddWatching %q: invalid run id", runID)
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	e, _ := json.Marshal(map[string]any{"PartitionKey": watchPartition, "RowKey": runID})
	if _, err := s.index.UpsertEntity(ctx, e, nil); err != nil {
		return fmt.Errorf("runs.AddWatching %s: %w: %w", runID, ErrUnavailable, err)
	}
	return nil
}

// DropWatching removes a run whose watch has ended.
func (s *Store) DropWatching(ctx context.Context, runID string) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.index.DeleteEntity(ctx, watchPartition, runID, nil)
	if err != nil && !hasStatus(err, http.StatusNotFound) {
		return fmt.Errorf("runs.DropWatching %s: %w: %w", runID, ErrUnavailable, err)
	}
	return nil
}

// Watching lists up to limit watched runs.
func (s *Store) Watching(ctx context.Context, limit int) ([]string, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	filter := fmt.Sprintf("PartitionKey eq '%s'", watchPartition)
	top := int32(min(limit, 1000))
	pager := s.index.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top})
	var out []string
	for pager.More() && len(out) < limit {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("runs.Watching: %w: %w", ErrUnavailable, err)
		}
		for _, raw := range page.Entities {
			var m entity
			if json.Unmarshal(raw, &m) == nil && ValidRunID(m.str("RowKey")) && len(out) < limit {
				out = append(out, m.str("RowKey"))
			}
		}
	}
	return out, nil
}
