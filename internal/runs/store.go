package runs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mathrand "math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Store keeps run records in Azure Table Storage.
//
// Layout (one partition per run, so a run and its steps are read with one query and
// written without cross-partition transactions):
//
//	<prefix>Runs      PK=runId  RK="run"          the run header
//	                  PK=runId  RK="step-<name>"  one entity per step (own ETag: steps of a run advance concurrently)
//	                  PK=runId  RK="<owner RK>~<text>~<write id>~NNNN"  parts of a large text (layout.go)
//	<prefix>RunIndex  PK="u:<sha256(lower user id or UPN)>"  RK=<inverted time>-<runId>  newest first
//	<prefix>Keys      PK=<kind>:<sha256(key)>  RK=""  claimed idempotency keys -> runId
//	<prefix>Keys      (each with the fingerprint of the request that claimed it)
//	<prefix>Limits    PK="window"  RK=<limit>  tenant-wide sliding one-hour counters (ETag-guarded)
//	<prefix>Sweeps    PK="sweep"  RK=<inverted time>  sweep records
//
// No key is ever built from caller or tenant text as such: the Table service refuses keys
// with / \ # ? or control characters (a guest's UPN holds #EXT#), so such text is hashed.
// Every entity is checked against the service's limits (limits.go) before it is written.
type Store struct {
	// Log receives the warnings about implausible stored values (bounded.go); nil means
	// slog.Default().
	Log *slog.Logger

	runs, index, keys, limits, sweeps *aztables.Client
	timeout                           time.Duration

	implausible sync.Map // what a stored value is -> the last implausible value logged for it

	svc       *aztables.ServiceClient
	prefix    string
	recordKey []byte // seals run records (integrity.go); nil: the process's own key
	mu        sync.Mutex
	ready     bool // the tables exist
}

// ErrConflict reports that an entity changed since it was read (ETag mismatch) or already
// exists; the caller re-reads and decides again.
var ErrConflict = errors.New("runs: conflicting update")

// ErrNotFound reports an unknown run.
var ErrNotFound = errors.New("runs: not found")

// ErrUnavailable wraps every failure to reach the store.
var ErrUnavailable = errors.New("runs: store unavailable")

var runIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidRunID reports whether s can be a run id (it reaches an OData filter).
func ValidRunID(s string) bool { return runIDPattern.MatchString(s) }

// New returns a store over the tables named by prefix. It makes no network call: the
// tables are created on first use, so the handler starts (and reports the store in
// /api/health) even while storage is unreachable.
func New(svc *aztables.ServiceClient, prefix string) *Store {
	if prefix == "" {
		prefix = "Tourniquet"
	}
	s := &Store{timeout: 15 * time.Second, svc: svc, prefix: prefix}
	s.runs = svc.NewClient(prefix + "Runs")
	s.index = svc.NewClient(prefix + "RunIndex")
	s.keys = svc.NewClient(prefix + "Keys")
	s.limits = svc.NewClient(prefix + "Limits")
	s.sweeps = svc.NewClient(prefix + "Sweeps")
	return s
}

// Open returns a store and creates its tables now.
func Open(ctx context.Context, svc *aztables.ServiceClient, prefix string) (*Store, error) {
	s := New(svc, prefix)
	return s, s.ensure(ctx)
}

// ensure creates the tables once.
func (s *Store) ensure(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return nil
	}
	for _, suffix := range []string{"Runs", "RunIndex", "Keys", "Limits", "Sweeps"} {
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		_, err := s.svc.CreateTable(cctx, s.prefix+suffix, nil)
		cancel()
		if err != nil && !hasCode(err, aztables.TableAlreadyExists) && !hasStatus(err, http.StatusConflict) {
			return fmt.Errorf("runs: create table %s: %w: %w", s.prefix+suffix, ErrUnavailable, err)
		}
	}
	s.ready = true
	return nil
}

// Ping checks that the store answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := s.runs.GetEntity(ctx, "ping", "ping", nil)
	if err != nil && !hasStatus(err, http.StatusNotFound) {
		return fmt.Errorf("runs.Ping: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// Create writes a new run (header and steps in one transaction, after the parts of any
// large text) and its index entries.
func (s *Store) Create(ctx context.Context, r *Run) error {
	if !ValidRunID(r.RunID) {
		return fmt.Errorf("runs.Create %q: invalid run id", r.RunID)
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var err error
	// The intent is sealed once, here, and never again: a later write keeps the seal it read.
	if r.intentSeal, err = s.intentSeal(r); err != nil {
		return fmt.Errorf("runs.Create %s: %w", r.RunID, err)
	}
	s.sealDecision(r)
	for i := range r.Steps {
		s.sealStep(r.RunID, &r.Steps[i])
	}
	drafts := make([]*draft, 0, 1+len(r.Steps))
	header, err := headerDraft(r)
	if err != nil {
		return err
	}
	drafts = append(drafts, header)
	for i := range r.Steps {
		d, err := stepDraft(r.RunID, &r.Steps[i])
		if err != nil {
			return err
		}
		drafts = append(drafts, d)
	}
	var (
		actions []aztables.TransactionAction
		parts   []map[string]any
	)
	for _, d := range drafts {
		lo, err := d.layout(nil)
		if err != nil {
			return fmt.Errorf("runs.Create %s: %w", r.RunID, err)
		}
		e, err := json.Marshal(lo.main)
		if err != nil {
			return fmt.Errorf("runs.Create %s: %w", r.RunID, err)
		}
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: e})
		parts = append(parts, lo.parts...)
	}
	// The index entries go first: a run whose index write failed after the run was recorded
	// would be missing from its user's list for good (a redelivered start replays the run
	// and writes nothing). An entry whose run never got recorded is skipped by ListByUser.
	for _, key := range indexKeys(r.User) {
		m := map[string]any{
			"PartitionKey": key,
			"RowKey":       invertedTime(r.CreatedAt) + "-" + r.RunID,
			"RunID":        r.RunID,
		}
		if err := CheckEntity(m); err != nil {
			return fmt.Errorf("runs.Create index: %w", err)
		}
		e, _ := json.Marshal(m)
		if _, err := s.index.UpsertEntity(ctx, e, nil); err != nil {
			return fmt.Errorf("runs.Create index: %w: %w", ErrUnavailable, err)
		}
	}
	if err := s.addParts(ctx, "runs.Create "+r.RunID, parts); err != nil {
		return err
	}
	if _, err := s.runs.SubmitTransaction(ctx, actions, nil); err != nil {
		s.dropParts(ctx, r.RunID, rowKeys(parts))
		if strings.Contains(err.Error(), string(aztables.EntityAlreadyExists)) {
			return fmt.Errorf("runs.Create %s: %w", r.RunID, ErrConflict)
		}
		return fmt.Errorf("runs.Create %s: %w: %w", r.RunID, ErrUnavailable, err)
	}
	// Re-read to learn the ETags the transaction assigned.
	fresh, err := s.Get(ctx, r.RunID)
	if err != nil {
		return err
	}
	*r = *fresh
	return nil
}

// addParts writes part entities (new write ids, so adds never collide). When one fails,
// those already added are deleted again.
func (s *Store) addParts(ctx context.Context, op string, parts []map[string]any) error {
	for i, p := range parts {
		e, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if _, err := s.runs.AddEntity(ctx, e, nil); err != nil {
			pk, _ := p["PartitionKey"].(string)
			s.dropParts(ctx, pk, rowKeys(parts[:i]))
			return fmt.Errorf("%s: write evidence part: %w: %w", op, ErrUnavailable, err)
		}
	}
	return nil
}

// dropParts deletes parts no entity names any more. Best effort: a part left behind costs
// storage, never correctness (nothing names it, so nothing reads it).
func (s *Store) dropParts(ctx context.Context, pk string, rks []string) {
	if len(rks) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	for _, rk := range rks {
		_, _ = s.runs.DeleteEntity(ctx, pk, rk, nil)
	}
}

func rowKeys(parts []map[string]any) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i], _ = p["RowKey"].(string)
	}
	return out
}

// Get reads a run and all its steps.
func (s *Store) Get(ctx context.Context, runID string) (*Run, error) {
	if !ValidRunID(runID) {
		return nil, fmt.Errorf("runs.Get %q: %w", runID, ErrNotFound)
	}
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// A concurrent update may replace a large text's parts between our reading of its
	// entity and of the parts; reading again finds the new ones.
	for attempt := 0; ; attempt++ {
		run, err := s.get(ctx, runID)
		if !errors.Is(err, errMissingPart) || attempt == 4 {
			return run, err
		}
	}
}

func (s *Store) get(ctx context.Context, runID string) (*Run, error) {
	filter := fmt.Sprintf("PartitionKey eq '%s'", runID)
	pager := s.runs.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var (
		header entity
		steps  []entity
		parts  = map[string]entity{}
	)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("runs.Get %s: %w: %w", runID, ErrUnavailable, err)
		}
		for _, raw := range page.Entities {
			var m entity
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("runs.Get %s: decode: %w", runID, err)
			}
			switch rk := m.str("RowKey"); {
			case isPartKey(rk):
				parts[rk] = m
			case rk == "run":
				header = m
			case strings.HasPrefix(rk, "step-"):
				steps = append(steps, m)
			}
		}
	}
	if header == nil {
		return nil, fmt.Errorf("runs.Get %s: %w", runID, ErrNotFound)
	}
	lookup := func(rk string) (entity, bool) { p, ok := parts[rk]; return p, ok }
	run, err := header.toRun(lookup)
	if err != nil {
		return nil, fmt.Errorf("runs.Get %s: %w", runID, err)
	}
	for _, m := range steps {
		st, err := m.toStep(lookup)
		if err != nil {
			return nil, fmt.Errorf("runs.Get %s: %w", runID, err)
		}
		if i := run.stepIndex(st.Name); i >= 0 {
			run.Steps[i] = st
		}
	}
	s.verify(run)
	return run, nil
}

// sealDecision seals the run's approval decision, if it has one, and its eviction watch.
func (s *Store) sealDecision(r *Run) {
	r.approvalSeal = ""
	if r.Approval.Decision != "" {
		r.approvalSeal = s.approvalSeal(r.RunID, r.Approval)
	}
	r.watchSeal = ""
	if r.Watch != nil || r.WatchBaseline != nil {
		r.watchSeal = s.watchSeal(r)
	}
}

// sealStep seals the step's status once it is final.
func (s *Store) sealStep(runID string, st *Step) {
	st.seal = ""
	if st.Status.Final() {
		st.seal = s.stepSeal(runID, st)
	}
}

// UpdateStep replaces a step entity if it is unchanged since it was read (ErrConflict
// otherwise) and records its new ETag in st. Large evidence is written to its parts first,
// so the step never names evidence that is not there.
func (s *Store) UpdateStep(ctx context.Context, runID string, st *Step) error {
	if st.tampered {
		return fmt.Errorf("runs.UpdateStep %s/%s: %w", runID, st.Name, ErrTampered)
	}
	s.sealStep(runID, st)
	d, err := stepDraft(runID, st)
	if err != nil {
		return err
	}
	etag, spills, err := s.replace(ctx, fmt.Sprintf("runs.UpdateStep %s/%s", runID, st.Name), d, st.etag, st.spills)
	if err != nil {
		return err
	}
	st.etag, st.spills = etag, spills
	return nil
}

// UpdateRun replaces the run header if it is unchanged since it was read.
func (s *Store) UpdateRun(ctx context.Context, r *Run) error {
	if r.Tampered != "" {
		return fmt.Errorf("runs.UpdateRun %s: %w", r.RunID, ErrTampered)
	}
	s.sealDecision(r)
	d, err := headerDraft(r)
	if err != nil {
		return err
	}
	etag, spills, err := s.replace(ctx, "runs.UpdateRun "+r.RunID, d, r.etag, r.spills)
	if err != nil {
		return err
	}
	r.etag, r.spills = etag, spills
	return nil
}

// replace writes d over the version read with etag (whose spill references are old): new
// parts first, then the entity if unchanged since, then it deletes the parts no longer named.
func (s *Store) replace(ctx context.Context, op string, d *draft, etag string, old map[string]string) (string, map[string]string, error) {
	if err := s.ensure(ctx); err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	lo, err := d.layout(old)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", op, err)
	}
	pk, _ := lo.main["PartitionKey"].(string)
	rk, _ := lo.main["RowKey"].(string)
	if err := s.addParts(ctx, op, lo.parts); err != nil {
		return "", nil, err
	}
	e, err := json.Marshal(lo.main)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", op, err)
	}
	tag := azcore.ETag(etag)
	resp, err := s.runs.UpdateEntity(ctx, e, &aztables.UpdateEntityOptions{IfMatch: &tag, UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		s.dropParts(ctx, pk, rowKeys(lo.parts))
		return "", nil, classify(op, err)
	}
	s.dropParts(ctx, pk, staleParts(rk, old, lo.spills))
	return string(resp.ETag), lo.spills, nil
}

// ListByUser returns the runs of a user (by object id or UPN), newest first.
func (s *Store) ListByUser(ctx context.Context, user string, limit int) ([]*Run, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	filter := fmt.Sprintf("PartitionKey eq '%s'", userKey(user))
	top := int32(limit)
	pager := s.index.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top})
	var ids []string
	seen := map[string]bool{}
	for pager.More() && len(ids) < limit {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("runs.ListByUser: %w: %w", ErrUnavailable, err)
		}
		for _, raw := range page.Entities {
			var m entity
			// A run recorded on a second try (its first Create failed after the index write)
			// may have two entries.
			if err := json.Unmarshal(raw, &m); err == nil && len(ids) < limit && !seen[m.str("RunID")] {
				seen[m.str("RunID")] = true
				ids = append(ids, m.str("RunID"))
			}
		}
	}
	out := make([]*Run, 0, len(ids))
	for _, id := range ids {
		r, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// KeyHolder is what an idempotency key is stored with: the run that holds it and the
// fingerprint of the request that started that run, so a different request that reuses the
// key is recognised (and refused) rather than answered with a run it did not ask for.
type KeyHolder struct {
	RunID       string
	Fingerprint string // "" for keys claimed before fingerprints were stored
}

// ClaimKey claims an idempotency key of a kind ("run", "sweep") for claim.RunID with an
// insert that fails on conflict. It returns the key's holder: claim when this call claimed
// it, the earlier one otherwise.
func (s *Store) ClaimKey(ctx context.Context, kind, key string, claim KeyHolder) (holder KeyHolder, claimed bool, err error) {
	if err := s.ensure(ctx); err != nil {
		return KeyHolder{}, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pk, err := keysPartition(kind, key)
	if err != nil {
		return KeyHolder{}, false, fmt.Errorf("runs.ClaimKey: %w", err)
	}
	e, _ := json.Marshal(map[string]any{"PartitionKey": pk, "RowKey": "", "RunID": claim.RunID, "Fingerprint": claim.Fingerprint})
	if _, err := s.keys.AddEntity(ctx, e, nil); err == nil {
		return claim, true, nil
	} else if !hasCode(err, aztables.EntityAlreadyExists) && !hasStatus(err, http.StatusConflict) {
		return KeyHolder{}, false, fmt.Errorf("runs.ClaimKey: %w: %w", ErrUnavailable, err)
	}
	got, err := s.keys.GetEntity(ctx, pk, "", nil)
	if err != nil {
		return KeyHolder{}, false, fmt.Errorf("runs.ClaimKey: %w: %w", ErrUnavailable, err)
	}
	var m entity
	if err := json.Unmarshal(got.Value, &m); err != nil {
		return KeyHolder{}, false, fmt.Errorf("runs.ClaimKey: decode: %w", err)
	}
	return KeyHolder{RunID: m.str("RunID"), Fingerprint: m.str("Fingerprint")}, false, nil
}

// ReleaseKey gives up a claim that did not lead to a run (e.g. the run was refused before
// it was recorded), so a later request with the same key can try again.
func (s *Store) ReleaseKey(ctx context.Context, kind, key string) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pk, err := keysPartition(kind, key)
	if err != nil {
		return fmt.Errorf("runs.ReleaseKey: %w", err)
	}
	_, err = s.keys.DeleteEntity(ctx, pk, "", nil)
	if err != nil && !hasStatus(err, http.StatusNotFound) {
		return fmt.Errorf("runs.ReleaseKey: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// Limit names a tenant-wide sliding one-hour counter.
type Limit string

const (
	// ChangeLimit counts runs that may change the tenant (MAX_REMEDIATIONS_PER_HOUR).
	ChangeLimit Limit = "changes"
	// RequestLimit counts every new start request (dry runs and refusals too): each reads
	// the directory and may leave a record, so a misfiring caller is held back before it
	// throttles the identity or fills the tables.
	RequestLimit Limit = "requests"
	// RestoreLimit counts restores that granted something back (the one action that grants
	// privilege), tenant-wide, so a misfiring script or a stolen restore key cannot re-grant
	// roles across the tenant faster than remediations took them.
	RestoreLimit Limit = "restores"
)

// CallerLimit is one caller's share of RequestLimit, named by the caller's requestedBy
// ("functionkey:<fp>", a principal name, "queue:<name>", "sweep"). The name is hashed: a
// principal name may hold characters a Table key must not (/ \ # ? and controls) and any
// length, while a hash is 32 hex digits whatever it was. Case is ignored, as principal names
// compare.
func CallerLimit(requestedBy string) Limit {
	sum := sha256.Sum256([]byte(strings.ToLower(requestedBy)))
	return Limit("requests-by-" + hex.EncodeToString(sum[:16]))
}

// window is the length of the sliding window, and bucket the resolution it is kept at: a
// reservation is counted from the start of its 10-second bucket until window after the
// bucket's end, never less than an hour (at most 10 s more).
const (
	window = time.Hour
	bucket = 10 * time.Second
)

// Reservation is one slot of a Limit, to give back if its run is never recorded.
type Reservation struct {
	limit  Limit
	bucket int64
}

// Reserve takes one slot of limit at now if fewer than max were taken in the last hour (a
// sliding window, so no burst of 2×max around the turn of an hour). Otherwise it returns a
// nil reservation and the time until the oldest counted slot leaves the window.
//
// Each limit is one entity holding a count per 10-second bucket of the last hour, replaced
// only if its ETag is unchanged, so concurrent handler instances never take more than max
// slots between them.
func (s *Store) Reserve(ctx context.Context, limit Limit, now time.Time, max int) (*Reservation, time.Duration, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	current := now.UnixNano() / int64(bucket)
	for attempt := 0; attempt < 50; attempt++ {
		buckets, etag, err := s.readWindow(ctx, limit)
		if err != nil {
			return nil, 0, fmt.Errorf("runs.Reserve: %w", err)
		}
		taken, oldest := 0, int64(0)
		for b, n := range buckets {
			if !counted(b, current) {
				delete(buckets, b) // out of the window: the entity stays small
				continue
			}
			// Reserve only ever counts into the current bucket: a later one was planted,
			// and would refuse every run until its time came and for an hour after. A count
			// below one is not Reserve's either. Both are dropped with the next write.
			if s.beyond("window/"+string(limit), time.Unix(0, b*int64(bucket)), now, bucket) || n < 1 {
				delete(buckets, b)
				continue
			}
			taken += n
			if oldest == 0 || b < oldest {
				oldest = b
			}
		}
		if taken >= max {
			retryAfter := window + bucket // nothing counted (max is 0): try again in an hour
			if oldest != 0 {
				retryAfter = time.Unix(0, oldest*int64(bucket)).Add(bucket + window).Sub(now)
			}
			return nil, retryAfter, nil
		}
		buckets[current]++
		switch err := s.writeWindow(ctx, limit, buckets, etag); {
		case err == nil:
			return &Reservation{limit: limit, bucket: current}, 0, nil
		case !errors.Is(err, ErrConflict):
			return nil, 0, fmt.Errorf("runs.Reserve: %w", err)
		}
		backoff(attempt)
	}
	return nil, 0, fmt.Errorf("runs.Reserve: %w: too much contention on the %s counter", ErrUnavailable, limit)
}

// GiveBack returns a reservation's slot: its run was never recorded, so it must not count.
func (s *Store) GiveBack(ctx context.Context, r *Reservation) error {
	if r == nil {
		return nil
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for attempt := 0; attempt < 50; attempt++ {
		buckets, etag, err := s.readWindow(ctx, r.limit)
		if err != nil {
			return fmt.Errorf("runs.GiveBack: %w", err)
		}
		if buckets[r.bucket] <= 0 {
			return nil // already out of the window
		}
		buckets[r.bucket]--
		if buckets[r.bucket] == 0 {
			delete(buckets, r.bucket)
		}
		switch err := s.writeWindow(ctx, r.limit, buckets, etag); {
		case err == nil:
			return nil
		case !errors.Is(err, ErrConflict):
			return fmt.Errorf("runs.GiveBack: %w", err)
		}
		backoff(attempt)
	}
	return fmt.Errorf("runs.GiveBack: %w: too much contention on the %s counter", ErrUnavailable, r.limit)
}

// counted reports whether a slot taken in bucket b still counts in bucket current.
func counted(b, current int64) bool {
	return b > current-int64(window/bucket)-1
}

// readWindow reads a limit's buckets (bucket number -> slots) and the entity's ETag; an
// empty ETag means the entity does not exist yet.
func (s *Store) readWindow(ctx context.Context, limit Limit) (map[int64]int, azcore.ETag, error) {
	buckets := map[int64]int{}
	got, err := s.limits.GetEntity(ctx, "window", string(limit), nil)
	if hasStatus(err, http.StatusNotFound) {
		return buckets, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var m entity
	if err := json.Unmarshal(got.Value, &m); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	if raw := m.str("Buckets"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &buckets); err != nil {
			// Not written by writeWindow: failing here would refuse every start request
			// for as long as the row stays. The counts are lost either way; the next write
			// (ETag-guarded, as always) replaces the row.
			s.log().Error("ignored a rate-limit window that does not decode (storage written by someone else?)", "limit", limit, "err", err)
			return map[int64]int{}, got.ETag, nil
		}
	}
	return buckets, got.ETag, nil
}

// writeWindow stores a limit's buckets if the entity is unchanged since it was read (etag),
// or creates it if it did not exist; ErrConflict when another writer came first.
func (s *Store) writeWindow(ctx context.Context, limit Limit, buckets map[int64]int, etag azcore.ETag) error {
	doc, _ := json.Marshal(buckets)
	e, _ := json.Marshal(map[string]any{"PartitionKey": "window", "RowKey": string(limit), "Buckets": string(doc)})
	var err error
	if etag == "" {
		_, err = s.limits.AddEntity(ctx, e, nil)
	} else {
		_, err = s.limits.UpdateEntity(ctx, e, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	}
	switch {
	case err == nil:
		return nil
	case hasStatus(err, http.StatusNotFound): // removed since it was read: read again
		return ErrConflict
	}
	return classify("write "+string(limit)+" window", err)
}

// backoff spreads out writers that lost an ETag race on a counter.
func backoff(attempt int) {
	time.Sleep(time.Duration(1+mathrand.IntN(5*(attempt+1))) * time.Millisecond)
}

// SweepRecord is the record of one run of the restricted-users sweep.
type SweepRecord struct {
	At         time.Time `json:"at"`
	Mode       string    `json:"mode"`
	Restricted int       `json:"restricted"`
	Started    []string  `json:"started"` // run ids
	Outcome    string    `json:"outcome"` // "ok", "over_limit", "failed"
	Message    string    `json:"message,omitempty"`
}

// AddSweep records a sweep.
func (s *Store) AddSweep(ctx context.Context, rec SweepRecord) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	doc, _ := json.Marshal(rec)
	m := map[string]any{"PartitionKey": "sweep", "RowKey": invertedTime(rec.At), "Outcome": rec.Outcome, "Record": string(doc)}
	if err := CheckEntity(m); err != nil {
		return fmt.Errorf("runs.AddSweep: %w", err)
	}
	e, _ := json.Marshal(m)
	if _, err := s.sweeps.UpsertEntity(ctx, e, nil); err != nil {
		return fmt.Errorf("runs.AddSweep: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// Sweeps lists the latest sweep records, newest first.
func (s *Store) Sweeps(ctx context.Context, limit int) ([]SweepRecord, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	top := int32(limit)
	pager := s.sweeps.NewListEntitiesPager(&aztables.ListEntitiesOptions{Top: &top})
	var out []SweepRecord
	for pager.More() && len(out) < limit {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("runs.Sweeps: %w: %w", ErrUnavailable, err)
		}
		for _, raw := range page.Entities {
			var m entity
			var rec SweepRecord
			if json.Unmarshal(raw, &m) == nil && json.Unmarshal([]byte(m.str("Record")), &rec) == nil && len(out) < limit {
				out = append(out, rec)
			}
		}
	}
	return out, nil
}

func indexKeys(u UserRef) []string {
	var keys []string
	for _, k := range []string{u.ID, u.UserPrincipalName} {
		if k != "" {
			keys = append(keys, userKey(k))
		}
	}
	return keys
}

// userKey is the RunIndex partition of a user's object id or UPN: a digest of it lower-cased
// (UPNs compare without case). The identifier itself never becomes a key: a guest's UPN
// holds '#' (name_domain.com#EXT#@tenant.onmicrosoft.com), which the Table service refuses.
func userKey(user string) string { return "u:" + hashKey(strings.ToLower(user)) }

// keysPartition is the Keys partition of a caller's idempotency key (or a sweep key): the key
// is hashed, so any text the caller sends makes a valid, bounded key.
func keysPartition(kind, key string) (string, error) {
	pk := kind + ":" + hashKey(key)
	if err := CheckKey(pk); err != nil {
		return "", err
	}
	return pk, nil
}

// invertedTime sorts newer times first in a row key.
func invertedTime(t time.Time) string {
	return fmt.Sprintf("%019d", math.MaxInt64-t.UnixNano())
}

func classify(op string, err error) error {
	switch {
	case hasStatus(err, http.StatusPreconditionFailed), hasStatus(err, http.StatusConflict):
		return fmt.Errorf("%s: %w", op, ErrConflict)
	case hasStatus(err, http.StatusNotFound):
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

func hasStatus(err error, status int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

func hasCode(err error, code aztables.TableErrorCode) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(code)
}

// LookupKey returns the holder of an idempotency key, if any.
func (s *Store) LookupKey(ctx context.Context, kind, key string) (holder KeyHolder, found bool, err error) {
	if err := s.ensure(ctx); err != nil {
		return KeyHolder{}, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pk, err := keysPartition(kind, key)
	if err != nil {
		return KeyHolder{}, false, fmt.Errorf("runs.LookupKey: %w", err)
	}
	got, err := s.keys.GetEntity(ctx, pk, "", nil)
	if hasStatus(err, http.StatusNotFound) {
		return KeyHolder{}, false, nil
	}
	if err != nil {
		return KeyHolder{}, false, fmt.Errorf("runs.LookupKey: %w: %w", ErrUnavailable, err)
	}
	var m entity
	if err := json.Unmarshal(got.Value, &m); err != nil {
		return KeyHolder{}, false, fmt.Errorf("runs.LookupKey: decode: %w", err)
	}
	return KeyHolder{RunID: m.str("RunID"), Fingerprint: m.str("Fingerprint")}, true, nil
}

// Unfinished lists the ids of runs that are still queued or running and were created before
// cutoff: candidates for recovery after a crash. Rows that cannot be a run's header are
// passed over without counting against limit.
func (s *Store) Unfinished(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	filter := "RowKey eq 'run' and (Status eq 'queued' or Status eq 'running')"
	sel := "PartitionKey,CreatedAt"
	pager := s.runs.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel})
	var ids []string
	for pager.More() && len(ids) < limit {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("runs.Unfinished: %w: %w", ErrUnavailable, err)
		}
		for _, raw := range page.Entities {
			var m entity
			if json.Unmarshal(raw, &m) != nil {
				continue
			}
			// A row that cannot be a run's (its partition is no run id: Get would refuse it;
			// no readable CreatedAt) was not written by the store: it does not use the
			// budget, so rows planted to sort first cannot starve the real ones.
			id := m.str("PartitionKey")
			if created := m.time("CreatedAt"); ValidRunID(id) && created != nil && created.Before(cutoff) && len(ids) < limit {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// Stalled lists the ids of runs with a step whose lease ran out before now: a step left
// running by a delivery that died (or whose last delivery could not reach the store), or a
// step enqueued or deferred whose message never came. Only steps' status and lease are
// read; the caller reads each run again before it acts.
func (s *Store) Stalled(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// Parts of a step's large texts have row keys beginning "step-" too, but no Status.
	filter := "RowKey ge 'step-' and RowKey lt 'step.' and (Status eq 'running' or (Status eq 'pending' and Enqueued eq true))"
	sel := "PartitionKey,LeaseUntil"
	pager := s.runs.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel})
	seen := map[string]bool{}
	var ids []string
	for pager.More() && len(ids) < limit {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("runs.Stalled: %w: %w", ErrUnavailable, err)
		}
		for _, raw := range page.Entities {
			var m entity
			if json.Unmarshal(raw, &m) != nil {
				continue
			}
			// As in Unfinished, a row that cannot be a run's step does not use the budget.
			id := m.str("PartitionKey")
			if lease := m.time("LeaseUntil"); ValidRunID(id) && lease != nil && lease.Before(now) && !seen[id] && len(ids) < limit {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}
