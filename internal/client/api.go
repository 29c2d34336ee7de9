package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Run is the run document (contract section 2), as much of it as the command line shows;
// the rest stays in Document.Raw for --json.
type Run struct {
	RunID          string     `json:"runId"`
	Status         string     `json:"status"`
	User           User       `json:"user"`
	DryRun         bool       `json:"dryRun"`
	Mode           string     `json:"mode"`
	Reason         string     `json:"reason"`
	RequestedBy    string     `json:"requestedBy"`
	IdempotencyKey string     `json:"idempotencyKey"`
	CreatedAt      time.Time  `json:"createdAt"`
	FinishedAt     *time.Time `json:"finishedAt"`
	Steps          []Step     `json:"steps"`
	Error          *Error     `json:"error"`
	Approval       *Approval  `json:"approval"`
	ParentRunID    string     `json:"parentRunId"`
	Watch          *Watch     `json:"watch"`
}

// Watch is a run's eviction watch (contract 1.3).
type Watch struct {
	Until         time.Time     `json:"until"`
	Interval      string        `json:"interval"`
	Checks        int           `json:"checks"`
	LastCheckAt   *time.Time    `json:"lastCheckAt"`
	Verdict       string        `json:"verdict"` // watching | no_return_seen | returned
	Hits          []WatchHit    `json:"hits"`
	RecontainRuns []string      `json:"recontainRuns"`
	Unavailable   []Unavailable `json:"unavailable"`
}

// WatchHit is one sign of the attacker's return.
type WatchHit struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	IP     string    `json:"ip"`
	Detail string    `json:"detail"`
}

// Unavailable names a source that could not be read, and why.
type Unavailable struct {
	Source string `json:"source"`
	Reason string `json:"reason"`
}

// Ended reports whether the watch is over: its verdict is final, or its last check was at
// or after its end.
func (w *Watch) Ended() bool {
	return w.Verdict == "no_return_seen" || (w.LastCheckAt != nil && !w.LastCheckAt.Before(w.Until))
}

// User names the account of a run.
type User struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
}

// Step is one step of a run.
type Step struct {
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	StartedAt  *time.Time `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	Message    string     `json:"message"`
	Changes    []Change   `json:"changes"`
	Error      *Error     `json:"error"`
}

// Change is one thing a step changed (or would change).
type Change struct {
	Action  string   `json:"action"`
	Target  string   `json:"target"`
	Reasons []string `json:"reasons"`
	// Restore is what a restore needs to undo the change; present only on reversible ones.
	Restore json.RawMessage `json:"restore"`
}

// Error is a failure recorded in a run.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Approval is the four-eyes decision of contract 6.1.
type Approval struct {
	Required  bool       `json:"required"`
	DecidedBy string     `json:"decidedBy"`
	DecidedAt *time.Time `json:"decidedAt"`
	Decision  string     `json:"decision"`
	Reason    string     `json:"reason"`
}

// CatalogStep is one entry of GET /api/steps.
type CatalogStep struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Default     bool     `json:"default"`
	Reversible  bool     `json:"reversible"`
	Impact      string   `json:"impact"`
	DependsOn   []string `json:"dependsOn"`
}

// Preflight is the answer of GET /api/preflight: what will work in the tenant.
type Preflight struct {
	Status    string           `json:"status"` // ready | degraded | blocked
	CheckedAt time.Time        `json:"checkedAt"`
	Checks    []PreflightCheck `json:"checks"`
	Steps     []PreflightStep  `json:"steps"`
}

// PreflightCheck is one thing the preflight looked at.
type PreflightCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok | warn | fail
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// PreflightStep says whether one step will work.
type PreflightStep struct {
	Name    string   `json:"name"`
	Status  string   `json:"status"` // ready | degraded | blocked
	Reasons []string `json:"reasons"`
}

// Restored is the answer of POST .../restore.
type Restored struct {
	RunID string        `json:"runId"`
	Items []RestoreItem `json:"items"`
}

// RestoreItem is the result of undoing one recorded change.
type RestoreItem struct {
	Step   string `json:"step"`
	Target string `json:"target"`
	Result string `json:"result"`
	Error  *Error `json:"error"`
}

// StartRequest is the body of POST /api/remediations. Fields left empty are not sent: the
// service refuses unknown fields, and an absent field keeps the service's default.
type StartRequest struct {
	User           string          `json:"user"`
	Steps          []string        `json:"steps,omitempty"`
	DryRun         bool            `json:"dryRun,omitempty"`
	Mode           string          `json:"mode,omitempty"`
	Reason         string          `json:"reason,omitempty"`
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
	Options        json.RawMessage `json:"options,omitempty"`
}

// RestoreRequest is the body of POST .../restore.
type RestoreRequest struct {
	Steps  []string `json:"steps,omitempty"`
	Force  bool     `json:"force,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// decision is the body of approve and reject (contract 6.1).
type decision struct {
	Reason string `json:"reason,omitempty"`
}

var errRunID = errors.New("a run id is letters, digits, '.', '_' and '-' (e.g. 20261130t050421-1f2e3d4c5b6a7988)")

// Start starts a run: 202 (async, or waiting for approval) or 200 (sync) with the run document.
func (c *Client) Start(ctx context.Context, req StartRequest) (Document[Run], error) {
	return send[Run](ctx, c, http.MethodPost, "/api/remediations", nil, req, nil)
}

// Get returns the run document.
func (c *Client) Get(ctx context.Context, runID string) (Document[Run], error) {
	if !ValidRunID(runID) {
		return Document[Run]{}, errRunID
	}
	return send[Run](ctx, c, http.MethodGet, "/api/remediations/"+runID, nil, nil, nil)
}

// List returns the user's runs, newest first.
func (c *Client) List(ctx context.Context, user string) (Document[[]Run], error) {
	return send[[]Run](ctx, c, http.MethodGet, "/api/remediations", url.Values{"user": {user}}, nil, nil)
}

// Steps returns the step catalog, in run-document order.
func (c *Client) Steps(ctx context.Context) (Document[[]CatalogStep], error) {
	return send[[]CatalogStep](ctx, c, http.MethodGet, "/api/steps", nil, nil, nil)
}

// Preflight answers what will work in the tenant and how to fix what will not.
func (c *Client) Preflight(ctx context.Context) (Document[Preflight], error) {
	return send[Preflight](ctx, c, http.MethodGet, "/api/preflight", nil, nil, nil)
}

// Restore gives back the user's own access the run removed (or exactly req.Steps' changes).
func (c *Client) Restore(ctx context.Context, runID string, req RestoreRequest) (Document[Restored], error) {
	if !ValidRunID(runID) {
		return Document[Restored]{}, errRunID
	}
	return send[Restored](ctx, c, http.MethodPost, "/api/remediations/"+runID+"/restore", nil, req, nil)
}

// Approve sends a run that waits for approval on; the answer is the run document.
func (c *Client) Approve(ctx context.Context, runID, reason string) (Document[Run], error) {
	if !ValidRunID(runID) {
		return Document[Run]{}, errRunID
	}
	return send[Run](ctx, c, http.MethodPost, "/api/remediations/"+runID+"/approve", nil, decision{reason}, nil)
}

// Reject ends a run that waits for approval as rejected.
func (c *Client) Reject(ctx context.Context, runID, reason string) (Document[Run], error) {
	if !ValidRunID(runID) {
		return Document[Run]{}, errRunID
	}
	return send[Run](ctx, c, http.MethodPost, "/api/remediations/"+runID+"/reject", nil, decision{reason}, nil)
}

// Report returns the run's report page (HTML) as sent.
func (c *Client) Report(ctx context.Context, runID string) ([]byte, error) {
	if !ValidRunID(runID) {
		return nil, errRunID
	}
	_, _, page, err := c.call(ctx, http.MethodGet, "/api/remediations/"+runID+"/report", nil, nil, nil)
	return page, err
}
