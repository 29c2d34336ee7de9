package runs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
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
	case int:
		return v
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

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// headerDraft is the run header entity before layout. Caller text (reason, idempotency
// key, options) and the JSON fields are texts: whatever their size, they are stored whole.
func headerDraft(r *Run) (*draft, error) {
	names := make([]string, len(r.Steps))
	for i, s := range r.Steps {
		names[i] = s.Name
	}
	d := &draft{props: map[string]any{
		"PartitionKey": r.RunID,
		"RowKey":       "run",
		"Status":       string(r.Status),
		"UserID":       r.User.ID,
		"UPN":          r.User.UserPrincipalName,
		"Mail":         r.User.Mail,
		"Synced":       r.User.OnPremisesSyncEnabled,
		"DryRun":       r.DryRun,
		"Mode":         r.Mode,
		"CreatedAt":    fmtTime(&r.CreatedAt),
		"FinishedAt":   fmtTime(r.FinishedAt),
		"StepNames":    strings.Join(names, ","),
	}}
	d.setText("Reason", r.Reason)
	d.setText("RequestedBy", r.RequestedBy)
	d.setText("IdempotencyKey", r.IdempotencyKey)
	d.setText("Options", string(r.Options))
	if r.Error != nil {
		if err := d.setJSON("Error", r.Error); err != nil {
			return nil, err
		}
	}
	if len(r.Restorations) > 0 {
		if err := d.setJSON("Restorations", r.Restorations); err != nil {
			return nil, err
		}
	}
	if r.Approval.Required {
		if err := d.setJSON("Approval", r.Approval); err != nil {
			return nil, err
		}
	}
	d.setText("RequesterID", r.RequesterID)
	d.setText("ParentRunID", r.ParentRunID)
	if r.Watch != nil {
		if err := d.setJSON("Watch", r.Watch); err != nil {
			return nil, err
		}
	}
	if r.WatchBaseline != nil {
		if err := d.setJSON("WatchBaseline", r.WatchBaseline); err != nil {
			return nil, err
		}
	}
	d.props["IntentSeal"] = r.intentSeal
	if r.approvalSeal != "" {
		d.props["ApprovalSeal"] = r.approvalSeal
	}
	if r.watchSeal != "" {
		d.props["WatchSeal"] = r.watchSeal
	}
	return d, nil
}

// stepDraft is a step entity before layout; its evidence (Changes) is a text.
func stepDraft(runID string, s *Step) (*draft, error) {
	d := &draft{props: map[string]any{
		"PartitionKey":   runID,
		"RowKey":         stepRowKey(s.Name),
		"Name":           s.Name,
		"Status":         string(s.Status),
		"Attempts":       s.Attempts,
		"StartedAt":      fmtTime(s.StartedAt),
		"FinishedAt":     fmtTime(s.FinishedAt),
		"Enqueued":       s.Enqueued,
		"LeaseUntil":     fmtTime(&s.LeaseUntil),
		"ClaimedBy":      s.ClaimedBy,
		"ClaimedDequeue": s.ClaimedDequeue,
	}}
	if s.seal != "" {
		d.props["Seal"] = s.seal
	}
	if s.Deferrals > 0 || s.DeferredUntil != nil {
		d.props["Deferrals"] = s.Deferrals
		d.props["DeferredUntil"] = fmtTime(s.DeferredUntil)
		d.props["DeferredBy"] = s.DeferredBy
		d.props["DeferredDequeue"] = s.DeferredDequeue
	}
	d.setText("Message", s.Message)
	if len(s.Changes) > 0 {
		if err := d.setJSON("Changes", s.Changes); err != nil {
			return nil, err
		}
	}
	if s.Error != nil {
		if err := d.setJSON("Error", s.Error); err != nil {
			return nil, err
		}
	}
	if len(s.Evidence) > 0 {
		if err := d.setJSON("Evidence", s.Evidence); err != nil {
			return nil, err
		}
	}
	if s.Findings != nil {
		// Stored whole however large: layout spills it into part entities.
		if err := d.setJSON("Findings", s.Findings); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func stepRowKey(name string) string { return "step-" + name }

func (m entity) toRun(parts partLookup) (*Run, error) {
	r := &Run{
		RunID:        m.str("PartitionKey"),
		Status:       Status(m.str("Status")),
		User:         UserRef{ID: m.str("UserID"), UserPrincipalName: m.str("UPN"), Mail: m.str("Mail"), OnPremisesSyncEnabled: m.bool("Synced")},
		DryRun:       m.bool("DryRun"),
		Mode:         m.str("Mode"),
		FinishedAt:   m.time("FinishedAt"),
		etag:         m.str("odata.etag"),
		spills:       m.spills(),
		intentSeal:   m.str("IntentSeal"),
		approvalSeal: m.str("ApprovalSeal"),
		watchSeal:    m.str("WatchSeal"),
	}
	if t := m.time("CreatedAt"); t != nil {
		r.CreatedAt = *t
	}
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"Reason", &r.Reason}, {"RequestedBy", &r.RequestedBy}, {"IdempotencyKey", &r.IdempotencyKey}} {
		if *f.dst, err = m.text(f.name, parts); err != nil {
			return nil, err
		}
	}
	o, err := m.text("Options", parts)
	if err != nil {
		return nil, err
	}
	if o != "" {
		r.Options = json.RawMessage(o)
	}
	if err := m.json("Error", parts, &r.Error); err != nil {
		return nil, err
	}
	if err := m.json("Restorations", parts, &r.Restorations); err != nil {
		return nil, err
	}
	if err := m.json("Approval", parts, &r.Approval); err != nil {
		return nil, err
	}
	if r.RequesterID, err = m.text("RequesterID", parts); err != nil {
		return nil, err
	}
	if r.ParentRunID, err = m.text("ParentRunID", parts); err != nil {
		return nil, err
	}
	if err := m.json("Watch", parts, &r.Watch); err != nil {
		return nil, err
	}
	if err := m.json("WatchBaseline", parts, &r.WatchBaseline); err != nil {
		return nil, err
	}
	if names := m.str("StepNames"); names != "" {
		for _, n := range strings.Split(names, ",") {
			r.Steps = append(r.Steps, Step{Name: n, Status: StepPending, Changes: []Change{}})
		}
	}
	return r, nil
}

func (m entity) toStep(parts partLookup) (Step, error) {
	s := Step{
		Name:            m.str("Name"),
		Status:          StepStatus(m.str("Status")),
		Attempts:        m.int("Attempts"),
		StartedAt:       m.time("StartedAt"),
		FinishedAt:      m.time("FinishedAt"),
		Enqueued:        m.bool("Enqueued"),
		ClaimedBy:       m.str("ClaimedBy"),
		ClaimedDequeue:  m.int("ClaimedDequeue"),
		DeferredUntil:   m.time("DeferredUntil"),
		Deferrals:       m.int("Deferrals"),
		DeferredBy:      m.str("DeferredBy"),
		DeferredDequeue: m.int("DeferredDequeue"),
		Changes:         []Change{},
		etag:            m.str("odata.etag"),
		spills:          m.spills(),
		seal:            m.str("Seal"),
	}
	if t := m.time("LeaseUntil"); t != nil {
		s.LeaseUntil = *t
	}
	var err error
	if s.Message, err = m.text("Message", parts); err != nil {
		return s, err
	}
	if err := m.json("Changes", parts, &s.Changes); err != nil {
		return s, err
	}
	if err := m.json("Error", parts, &s.Error); err != nil {
		return s, err
	}
	if err := m.json("Evidence", parts, &s.Evidence); err != nil {
		return s, err
	}
	if err := m.json("Findings", parts, &s.Findings); err != nil {
		return s, err
	}
	return s, nil
}

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
