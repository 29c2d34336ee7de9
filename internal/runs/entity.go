package runs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Azure Table Storage limits that Azurite does not enforce: a string property holds at most
// 64 KiB (32K UTF-16 code units), an entity at most 1 MiB and 255 properties. Large JSON
// (evidence) is split into chunks of chunkBytes UTF-8 bytes, which is never more than
// chunkBytes UTF-16 code units, over at most maxChunks properties.
const (
	chunkBytes = 30000
	maxChunks  = 28
)

// entity is a table entity as decoded JSON.
type entity map[string]any

func (m entity) str(k string) string {
	s, _ := m[k].(string)
	return s
}

func (m entity) bool(k string) bool {
	b, _ := m[k].(bool)
	return b
}

func (m entity) int(k string) int {
	switch v := m[k].(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

func (m entity) time(k string) *time.Time {
	s := m.str(k)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

// putJSON stores v as JSON in property name, split over name0..nameN when large.
func putJSON(m map[string]any, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	s := string(data)
	var parts []string
	for len(s) > chunkBytes {
		cut := chunkBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	parts = append(parts, s)
	if len(parts) > maxChunks {
		// Evidence this large would break the 1 MiB entity limit; keep a marker instead of
		// failing the step after it changed the tenant.
		marker, _ := json.Marshal(map[string]any{"truncated": true, "bytes": len(data)})
		parts = []string{string(marker)}
	}
	m[name+"Parts"] = len(parts)
	for i, p := range parts {
		m[name+strconv.Itoa(i)] = p
	}
	return nil
}

// getJSON reads what putJSON stored into v; absent => v unchanged.
func (m entity) getJSON(name string, v any) error {
	n := m.int(name + "Parts")
	if n == 0 {
		return nil
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(m.str(name + strconv.Itoa(i)))
	}
	if err := json.Unmarshal([]byte(b.String()), v); err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	return nil
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func headerEntity(r *Run) ([]byte, error) {
	names := make([]string, len(r.Steps))
	for i, s := range r.Steps {
		names[i] = s.Name
	}
	m := map[string]any{
		"PartitionKey":   r.RunID,
		"RowKey":         "run",
		"Status":         string(r.Status),
		"UserID":         r.User.ID,
		"UPN":            r.User.UserPrincipalName,
		"Mail":           r.User.Mail,
		"Synced":         r.User.OnPremisesSyncEnabled,
		"DryRun":         r.DryRun,
		"Mode":           r.Mode,
		"Reason":         r.Reason,
		"RequestedBy":    r.RequestedBy,
		"IdempotencyKey": r.IdempotencyKey,
		"CreatedAt":      fmtTime(&r.CreatedAt),
		"FinishedAt":     fmtTime(r.FinishedAt),
		"StepNames":      strings.Join(names, ","),
	}
	if len(r.Options) > 0 {
		m["Options"] = string(r.Options)
	}
	if r.Error != nil {
		if err := putJSON(m, "Error", r.Error); err != nil {
			return nil, err
		}
	}
	if len(r.Restorations) > 0 {
		if err := putJSON(m, "Restorations", r.Restorations); err != nil {
			return nil, err
		}
	}
	return json.Marshal(m)
}

func stepEntity(runID string, s *Step) ([]byte, error) {
	m := map[string]any{
		"PartitionKey":   runID,
		"RowKey":         "step-" + s.Name,
		"Name":           s.Name,
		"Status":         string(s.Status),
		"Attempts":       s.Attempts,
		"StartedAt":      fmtTime(s.StartedAt),
		"FinishedAt":     fmtTime(s.FinishedAt),
		"Message":        s.Message,
		"Enqueued":       s.Enqueued,
		"LeaseUntil":     fmtTime(&s.LeaseUntil),
		"ClaimedBy":      s.ClaimedBy,
		"ClaimedDequeue": s.ClaimedDequeue,
	}
	if len(s.Changes) > 0 {
		if err := putJSON(m, "Changes", s.Changes); err != nil {
			return nil, err
		}
	}
	if s.Error != nil {
		if err := putJSON(m, "Error", s.Error); err != nil {
			return nil, err
		}
	}
	return json.Marshal(m)
}

func (m entity) toRun() (*Run, error) {
	r := &Run{
		RunID:          m.str("PartitionKey"),
		Status:         Status(m.str("Status")),
		User:           UserRef{ID: m.str("UserID"), UserPrincipalName: m.str("UPN"), Mail: m.str("Mail"), OnPremisesSyncEnabled: m.bool("Synced")},
		DryRun:         m.bool("DryRun"),
		Mode:           m.str("Mode"),
		Reason:         m.str("Reason"),
		RequestedBy:    m.str("RequestedBy"),
		IdempotencyKey: m.str("IdempotencyKey"),
		FinishedAt:     m.time("FinishedAt"),
		etag:           m.str("odata.etag"),
	}
	if t := m.time("CreatedAt"); t != nil {
		r.CreatedAt = *t
	}
	if o := m.str("Options"); o != "" {
		r.Options = json.RawMessage(o)
	}
	if err := m.getJSON("Error", &r.Error); err != nil {
		return nil, err
	}
	if err := m.getJSON("Restorations", &r.Restorations); err != nil {
		return nil, err
	}
	if names := m.str("StepNames"); names != "" {
		for _, n := range strings.Split(names, ",") {
			r.Steps = append(r.Steps, Step{Name: n, Status: StepPending, Changes: []Change{}})
		}
	}
	return r, nil
}

func (m entity) toStep() (Step, error) {
	s := Step{
		Name:           m.str("Name"),
		Status:         StepStatus(m.str("Status")),
		Attempts:       m.int("Attempts"),
		StartedAt:      m.time("StartedAt"),
		FinishedAt:     m.time("FinishedAt"),
		Message:        m.str("Message"),
		Enqueued:       m.bool("Enqueued"),
		ClaimedBy:      m.str("ClaimedBy"),
		ClaimedDequeue: m.int("ClaimedDequeue"),
		Changes:        []Change{},
		etag:           m.str("odata.etag"),
	}
	if t := m.time("LeaseUntil"); t != nil {
		s.LeaseUntil = *t
	}
	if err := m.getJSON("Changes", &s.Changes); err != nil {
		return s, err
	}
	if err := m.getJSON("Error", &s.Error); err != nil {
		return s, err
	}
	return s, nil
}

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
