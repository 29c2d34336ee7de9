package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/client"
)

// cmdline runs the command line against url with stdout a buffer (not a terminal).
func cmdline(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, append([]string{"tourniquet"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return cliResult{code, out.String(), errOut.String()}
}

// request is what a test server received.
type request struct {
	method, path, key, body string
}

// recordingAPI answers every start with a planned dry run and every restore with no items,
// and records what it was sent.
type recordingAPI struct {
	mu   sync.Mutex
	reqs []request
}

func (a *recordingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.reqs = append(a.reqs, request{r.Method, r.URL.Path, r.Header.Get("x-functions-key"), string(data)})
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/remediations":
		io.WriteString(w, `{"runId":"20261130t050421-0011223344556677","status":"planned","dryRun":true,"user":{"userPrincipalName":"adele@contoso.example"},"steps":[]}`)
	case strings.HasSuffix(r.URL.Path, "/restore"):
		io.WriteString(w, `{"runId":"20261130t050421-0011223344556677","items":[]}`)
	default:
		http.NotFound(w, r)
	}
}

func TestArgumentsAndFlags(t *testing.T) {
	t.Parallel()
	const id = "20261130t050421-0011223344556677"
	cases := []struct {
		name     string
		args     []string
		noURL    bool
		code     int
		stderr   string
		stdout   string
		wantReq  *request // nil: no request may reach the API
		wantBody map[string]any
	}{
		{name: "no command", args: nil, code: exitUsage, stderr: "no command"},
		{name: "unknown command", args: []string{"remedy", "adele@contoso.example"}, code: exitUsage, stderr: `unknown command "remedy"`},
		{name: "help", args: []string{"help"}, code: exitOK, stdout: "Exit codes"},
		{name: "-h on a command", args: []string{"status", "-h"}, code: exitOK, stdout: "Usage: tourniquet"},
		{name: "remediate without a user", args: []string{"remediate"}, code: exitUsage, stderr: "remediate wants one user"},
		{name: "remediate with two users", args: []string{"remediate", "a@contoso.example", "b@contoso.example"}, code: exitUsage, stderr: "remediate wants one user"},
		{name: "a run id that would change the path", args: []string{"status", "../steps"}, code: exitUsage, stderr: "is not a run id"},
		{name: "an unknown flag", args: []string{"status", id, "--jsno"}, code: exitUsage, stderr: "flag provided but not defined: -jsno"},
		{name: "options that are not an object", args: []string{"remediate", "a@contoso.example", "--options", "[1]"}, code: exitUsage, stderr: "--options must be a JSON object"},
		{name: "--steps naming nothing", args: []string{"remediate", "a@contoso.example", "--steps", " , "}, code: exitUsage, stderr: "names no step"},
		{name: "--force without --reason", args: []string{"restore", id, "--force"}, code: exitUsage, stderr: "--force needs --reason"},
		{name: "reject without --reason", args: []string{"reject", id}, code: exitUsage, stderr: "--reason is required"},
		{name: "no address", args: []string{"steps"}, noURL: true, code: exitUsage, stderr: "TOURNIQUET_URL"},
		{name: "steps takes no argument", args: []string{"steps", "all"}, code: exitUsage, stderr: "steps wants no argument"},
		{
			name: "flags after the user, as people type them",
			args: []string{"remediate", "adele@contoso.example", "--dry-run", "--steps", "remove-forwarding, remove-inbox-rules", "--reason", "INC-1"},
			code: exitOK, stdout: "run " + id + " for adele@contoso.example: planned (dry run)",
			wantReq:  &request{method: "POST", path: "/api/remediations", key: "env-key"},
			wantBody: map[string]any{"user": "adele@contoso.example", "dryRun": true, "steps": []any{"remove-forwarding", "remove-inbox-rules"}, "reason": "INC-1"},
		},
		{
			name: "common flags before the command override the environment",
			args: []string{"--key", "flag-key", "remediate", "adele@contoso.example", "--sync", "--idempotency-key", "INC-9"},
			code: exitOK, stdout: "planned",
			wantReq:  &request{method: "POST", path: "/api/remediations", key: "flag-key"},
			wantBody: map[string]any{"user": "adele@contoso.example", "mode": "sync", "idempotencyKey": "INC-9"},
		},
		{
			name: "restore with steps and force",
			args: []string{"restore", id, "--steps", "block-sign-in", "--force", "--reason", "false positive"},
			code: exitOK, stdout: "0 restored, 0 already present, 0 failed",
			wantReq:  &request{method: "POST", path: "/api/remediations/" + id + "/restore", key: "env-key"},
			wantBody: map[string]any{"steps": []any{"block-sign-in"}, "force": true, "reason": "false positive"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := &recordingAPI{}
			srv := httptest.NewServer(api)
			defer srv.Close()
			env := map[string]string{"TOURNIQUET_URL": srv.URL, "TOURNIQUET_KEY": "env-key"}
			if tc.noURL {
				delete(env, "TOURNIQUET_URL")
			}
			res := cmdline(t, env, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.stderr) || !strings.Contains(res.stdout, tc.stdout) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q / %q", res.code, tc.code, res.stdout, res.stderr, tc.stdout, tc.stderr)
			}
			if tc.wantReq == nil {
				if len(api.reqs) != 0 {
					t.Fatalf("a usage error reached the API: %+v", api.reqs)
				}
				return
			}
			if len(api.reqs) != 1 {
				t.Fatalf("requests %+v, want one", api.reqs)
			}
			got := api.reqs[0]
			if got.method != tc.wantReq.method || got.path != tc.wantReq.path || got.key != tc.wantReq.key {
				t.Errorf("request %s %s key %q, want %s %s key %q", got.method, got.path, got.key, tc.wantReq.method, tc.wantReq.path, tc.wantReq.key)
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(got.body), &body); err != nil {
				t.Fatal(err)
			}
			if key, ok := body["idempotencyKey"].(string); ok && strings.HasPrefix(key, "cli-") && tc.wantBody["idempotencyKey"] == nil {
				delete(body, "idempotencyKey") // the fresh per-command key
			}
			if fmt.Sprint(body) != fmt.Sprint(tc.wantBody) {
				t.Errorf("body %v, want %v", body, tc.wantBody)
			}
		})
	}
}

func TestExitCodeOfEachRunStatus(t *testing.T) {
	t.Parallel()
	cases := map[string]int{
		"succeeded": exitOK, "planned": exitOK, "failed": exitFailed, "action_required": exitActionRequired,
		"awaiting_approval": exitAwaitingApproval, "refused": exitNotRun, "rejected": exitNotRun,
		"expired": exitNotRun, "queued": exitUnfinished, "running": exitUnfinished, "something_new": exitFailed,
	}
	for status, want := range cases {
		if got := exitFor(status); got != want {
			t.Errorf("exitFor(%q) = %d, want %d", status, got, want)
		}
	}
	codes := map[int]bool{}
	for _, c := range []int{exitOK, exitFailed, exitUsage, exitActionRequired, exitAwaitingApproval, exitNotRun, exitAPI, exitUnfinished, exitInterrupted} {
		if codes[c] {
			t.Errorf("exit code %d used twice", c)
		}
		codes[c] = true
		if !strings.Contains(usage, fmt.Sprintf("\n  %-4d ", c)) {
			t.Errorf("exit code %d is not in the help text", c)
		}
	}
}

// approvalAPI plays contract 6.1 (approval, four eyes) for the approve and reject commands,
// which the handler on this branch does not serve yet: a start waits (202,
// awaiting_approval), approve sends the run on (it then moves on each read), reject ends it
// rejected, a decision on a run that does not wait is 409, and an approver who is the
// requester is 403 same_principal.
type approvalAPI struct {
	mu            sync.Mutex
	t             *testing.T
	status        string
	reads         int
	autoApprove   int // approve on this read (another person approving while watch waits)
	samePrincipal bool
	approval      map[string]any
	decisions     []string // bodies of approve/reject
}

const approvalRunID = "20261130t060000-a1b2c3d4e5f60718"

func (a *approvalAPI) doc() map[string]any {
	step := func(name, status string) map[string]any {
		s := map[string]any{"name": name, "status": status, "attempts": 0, "changes": []any{}}
		if status == "succeeded" {
			s["attempts"] = 1
			s["startedAt"] = "2026-11-30T06:05:00Z"
			s["finishedAt"] = "2026-11-30T06:05:01.5Z"
			s["changes"] = []any{map[string]any{"action": "sessions_revoked", "target": "adele@contoso.example"}}
		}
		return s
	}
	first, second := "pending", "pending"
	switch a.status {
	case "running":
		first = "succeeded"
	case "succeeded":
		first, second = "succeeded", "succeeded"
	}
	d := map[string]any{"runId": approvalRunID, "status": a.status, "dryRun": false,
		"user":        map[string]any{"id": "11111111-1111-4111-8111-111111111111", "userPrincipalName": "adele@contoso.example"},
		"requestedBy": "alice@contoso.example", "createdAt": "2026-11-30T06:00:00Z",
		"steps": []any{step("reset-password", first), step("revoke-sessions", second)}, "approval": a.approval}
	if a.status == "succeeded" || a.status == "rejected" {
		d["finishedAt"] = "2026-11-30T06:05:03Z"
	}
	return d
}

func (a *approvalAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Header.Get("x-functions-key") != "approver-key" {
		problemAnswer(w, 401, "unauthorized", "no function key")
		return
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/remediations":
		a.status = "awaiting_approval"
		a.approval = map[string]any{"required": true}
		w.Header().Set("Location", "/api/remediations/"+approvalRunID)
		writeDoc(w, 202, a.doc())
	case r.Method == "GET" && r.URL.Path == "/api/remediations/"+approvalRunID:
		a.reads++
		switch a.status {
		case "awaiting_approval":
			if a.autoApprove > 0 && a.reads >= a.autoApprove {
				a.decide("approved", "bob@contoso.example", "")
				a.status = "queued"
			}
		case "queued":
			a.status = "running"
		case "running":
			a.status = "succeeded"
		}
		writeDoc(w, 200, a.doc())
	case r.Method == "POST" && (r.URL.Path == "/api/remediations/"+approvalRunID+"/approve" || r.URL.Path == "/api/remediations/"+approvalRunID+"/reject"):
		var body struct {
			Reason string `json:"reason"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			problemAnswer(w, 400, "invalid_request", "invalid JSON body: "+err.Error())
			return
		}
		a.decisions = append(a.decisions, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]+" "+body.Reason)
		if a.samePrincipal {
			problemAnswer(w, 403, "same_principal", "the approver must not be the requester (alice@contoso.example)")
			return
		}
		if a.status != "awaiting_approval" {
			problemAnswer(w, 409, "conflict", "run "+approvalRunID+" does not wait for approval (status "+a.status+")")
			return
		}
		if strings.HasSuffix(r.URL.Path, "/approve") {
			a.decide("approved", "bob@contoso.example", body.Reason)
			a.status = "queued"
			writeDoc(w, 202, a.doc())
			return
		}
		a.decide("rejected", "bob@contoso.example", body.Reason)
		a.status = "rejected"
		writeDoc(w, 200, a.doc())
	default:
		problemAnswer(w, 404, "not_found", "no route")
	}
}

func (a *approvalAPI) decide(decision, by, reason string) {
	a.approval = map[string]any{"required": true, "decision": decision, "decidedBy": by, "decidedAt": "2026-11-30T06:05:00Z", "reason": reason}
}

func writeDoc(w http.ResponseWriter, status int, doc any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}

func problemAnswer(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "https://tourniquet.invalid/problems/" + code, "title": http.StatusText(status), "status": status, "code": code, "detail": detail})
}

func approvalServer(t *testing.T, api *approvalAPI) map[string]string {
	t.Helper()
	api.t = t
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return map[string]string{"TOURNIQUET_URL": srv.URL, "TOURNIQUET_KEY": "approver-key"}
}

// fast follows runs without the real poll interval.
func fast(args ...string) []string { return append(args, "--wait", "20s") }

func TestApproveSendsTheRunOnAndFollowsIt(t *testing.T) {
	t.Parallel()
	api := &approvalAPI{}
	env := approvalServer(t, api)

	start := cmdline(t, env, "remediate", "adele@contoso.example", "--reason", "INC-5")
	if start.code != exitAwaitingApproval || !strings.Contains(start.stdout, "tourniquet approve "+approvalRunID) ||
		!strings.Contains(start.stdout, "approval     required, not decided yet") {
		t.Fatalf("remediate of a run that waits: exit %d\n%s%s", start.code, start.stdout, start.stderr)
	}

	res := cmdline(t, env, fast("approve", approvalRunID, "--reason", "checked with the user's manager")...)
	if res.code != exitOK {
		t.Fatalf("approve: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	want := []string{
		"approved run " + approvalRunID,
		"run " + approvalRunID + " for adele@contoso.example: queued",
		"run " + approvalRunID + ": running",
		"  reset-password               succeeded        1.5s; 1 change",
		"  revoke-sessions              succeeded        1.5s; 1 change",
		"run " + approvalRunID + " succeeded in 5m3s",
	}
	got := strings.Split(res.stdout, "\n")
	if len(got) < len(want) || strings.Join(got[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Errorf("approve output:\n%s\nwant it to begin with:\n%s", res.stdout, strings.Join(want, "\n"))
	}
	if len(api.decisions) != 1 || api.decisions[0] != "approve checked with the user's manager" {
		t.Errorf("decisions sent: %q", api.decisions)
	}

	// Deciding again: the service's 409 is shown as title, detail and code.
	again := cmdline(t, env, "reject", approvalRunID, "--reason", "too late")
	if again.code != exitAPI || !strings.Contains(again.stderr, "Conflict (HTTP 409, conflict) from POST /api/remediations/"+approvalRunID+"/reject") ||
		!strings.Contains(again.stderr, "does not wait for approval (status succeeded)") {
		t.Errorf("a second decision: exit %d\n%s", again.code, again.stderr)
	}
}

func TestRejectEndsTheRun(t *testing.T) {
	t.Parallel()
	api := &approvalAPI{}
	env := approvalServer(t, api)
	cmdline(t, env, "remediate", "adele@contoso.example")

	res := cmdline(t, env, "reject", approvalRunID, "--reason", "the sign-in was the user on holiday")
	if res.code != exitOK || res.stdout != "rejected run "+approvalRunID+": status rejected\n" {
		t.Fatalf("reject: exit %d\n%q%s", res.code, res.stdout, res.stderr)
	}
	st := cmdline(t, env, "status", approvalRunID)
	if st.code != exitNotRun || !strings.Contains(st.stdout, `approval     rejected by bob@contoso.example at 2026-11-30T06:05:00Z ("the sign-in was the user on holiday")`) {
		t.Errorf("status of a rejected run: exit %d\n%s", st.code, st.stdout)
	}
	js := cmdline(t, env, "status", approvalRunID, "--json")
	var doc struct {
		Status   string
		Approval struct{ Decision, Reason string }
	}
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil || doc.Status != "rejected" || doc.Approval.Decision != "rejected" {
		t.Errorf("status --json: %v %+v", err, doc)
	}
}

func TestApproverWhoIsTheRequesterIsRefused(t *testing.T) {
	t.Parallel()
	api := &approvalAPI{samePrincipal: true}
	env := approvalServer(t, api)
	cmdline(t, env, "remediate", "adele@contoso.example")
	res := cmdline(t, env, "approve", approvalRunID, "--json")
	if res.code != exitAPI || !strings.Contains(res.stderr, "Forbidden (HTTP 403, same_principal)") ||
		!strings.Contains(res.stderr, "the approver must not be the requester") {
		t.Fatalf("same principal: exit %d\n%s", res.code, res.stderr)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &p); err != nil || p["code"] != "same_principal" {
		t.Errorf("--json should print the problem document: %v %q", err, res.stdout)
	}
}

func TestWatchWaitsThroughApproval(t *testing.T) {
	t.Parallel()
	api := &approvalAPI{autoApprove: 3}
	env := approvalServer(t, api)
	cmdline(t, env, "remediate", "adele@contoso.example")
	res := cmdline(t, env, fast("watch", approvalRunID, "--json")...)
	if res.code != exitOK || strings.Count(res.stdout, "\n") != 1 {
		t.Fatalf("watch --json: exit %d, want one document\n%s%s", res.code, res.stdout, res.stderr)
	}
	var doc struct{ Status string }
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil || doc.Status != "succeeded" {
		t.Errorf("watch --json: %v %q", err, res.stdout)
	}
	if api.reads < 5 {
		t.Errorf("%d reads: watch should read on while the run waits, then while it runs", api.reads)
	}
}

func TestFollowGivesUpAfterWait(t *testing.T) {
	t.Parallel()
	api := &approvalAPI{}
	env := approvalServer(t, api)
	cmdline(t, env, "remediate", "adele@contoso.example")
	start := time.Now()
	res := cmdline(t, env, "watch", approvalRunID, "--wait", "1500ms")
	if res.code != exitUnfinished || !strings.Contains(res.stderr, "still awaiting_approval after 1.5s; it goes on: tourniquet watch "+approvalRunID) {
		t.Fatalf("watch past --wait: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

// screen plays the output a terminal receives (text, newline, carriage return, cursor up,
// clear to the end of the screen) and returns the lines left on it. Any other escape fails the
// test: the view must use only these.
func screen(t *testing.T, out string) []string {
	t.Helper()
	var lines []string
	row := 0
	for i := 0; i < len(out); {
		switch {
		case strings.HasPrefix(out[i:], "\x1b["):
			j := i + 2
			n := 0
			for j < len(out) && out[j] >= '0' && out[j] <= '9' {
				n = n*10 + int(out[j]-'0')
				j++
			}
			switch out[j] {
			case 'A':
				row -= n
			case 'J':
				lines = lines[:min(row, len(lines))]
			default:
				t.Fatalf("unexpected escape %q", out[i:j+1])
			}
			i = j + 1
		case out[i] == '\r':
			i++
		case out[i] == '\n':
			row++
			i++
		case out[i] == '\x1b':
			t.Fatalf("unexpected escape at %q", out[i:])
		default:
			for len(lines) <= row {
				lines = append(lines, "")
			}
			j := strings.IndexAny(out[i:], "\x1b\r\n")
			if j < 0 {
				j = len(out) - i
			}
			lines[row] += out[i : i+j]
			i += j
		}
		if row < 0 {
			t.Fatalf("cursor above the view")
		}
	}
	return lines
}

func TestTerminalViewUpdatesEachStepInPlace(t *testing.T) {
	t.Parallel()
	at := func(s string) *time.Time { tm, _ := time.Parse(time.RFC3339Nano, s); return &tm }
	created := *at("2026-11-30T06:00:00Z")
	mk := func(status string, steps ...client.Step) *client.Run {
		r := &client.Run{RunID: "r1", Status: status, User: client.User{UserPrincipalName: "adele@contoso.example"}, CreatedAt: created, Steps: steps}
		if status == "failed" {
			r.FinishedAt = at("2026-11-30T06:00:04Z")
			r.Error = &client.Error{Code: "upstream_error", Message: "remove-forwarding: Exchange answered 500"}
		}
		return r
	}
	pending := func(n string) client.Step { return client.Step{Name: n, Status: "pending"} }
	done := func(n, st string) client.Step {
		return client.Step{Name: n, Status: st, Attempts: 1, StartedAt: at("2026-11-30T06:00:01Z"), FinishedAt: at("2026-11-30T06:00:01.25Z")}
	}
	seq := []*client.Run{
		mk("queued", pending("reset-password"), pending("revoke-sessions"), pending("remove-forwarding")),
		mk("running", client.Step{Name: "reset-password", Status: "running"}, pending("revoke-sessions"), pending("remove-forwarding")),
		mk("running", done("reset-password", "succeeded"), pending("revoke-sessions"),
			client.Step{Name: "remove-forwarding", Status: "failed", Attempts: 5, Error: &client.Error{Code: "upstream_error", Message: "Exchange answered 500\x1b]0;owned\x07"}}),
		mk("failed", done("reset-password", "succeeded"), done("revoke-sessions", "succeeded"),
			client.Step{Name: "remove-forwarding", Status: "failed", Attempts: 5, Error: &client.Error{Code: "upstream_error", Message: "Exchange answered 500\x1b]0;owned\x07"}}),
	}
	var buf bytes.Buffer
	v := &view{w: &buf, tty: true, width: 120, printed: map[string]bool{}}
	for _, r := range seq {
		v.show(r)
	}
	v.finish(seq[len(seq)-1])
	got := screen(t, buf.String())
	want := []string{
		"run r1 for adele@contoso.example: failed",
		"✓ reset-password               succeeded        250ms",
		"✓ revoke-sessions              succeeded        250ms",
		"✗ remove-forwarding            failed           attempt 5; error upstream_error: Exchange answered 500�]0;owned�",
		"run r1 failed in 4s: upstream_error: remove-forwarding: Exchange answered 500",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := strings.Count(buf.String(), "\x1b[4A"); n != len(seq) {
		t.Errorf("%d redraws of the 4-line block, want %d", n, len(seq))
	}

	// The same sequence on a pipe: each step once, as it finishes, then the closing line.
	buf.Reset()
	v = &view{w: &buf, printed: map[string]bool{}}
	for _, r := range seq {
		v.show(r)
	}
	v.finish(seq[len(seq)-1])
	plain := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	wantPlain := []string{
		"run r1 for adele@contoso.example: queued",
		"run r1: running",
		"  reset-password               succeeded        250ms",
		"  remove-forwarding            failed           attempt 5; error upstream_error: Exchange answered 500�]0;owned�",
		"  revoke-sessions              succeeded        250ms",
		"run r1 failed in 4s: upstream_error: remove-forwarding: Exchange answered 500",
	}
	if strings.Join(plain, "\n") != strings.Join(wantPlain, "\n") {
		t.Errorf("plain:\n%s\nwant:\n%s", strings.Join(plain, "\n"), strings.Join(wantPlain, "\n"))
	}
}

func TestLongLinesAreCutToTheTerminal(t *testing.T) {
	t.Parallel()
	r := &client.Run{RunID: "r1", Status: "running", Steps: []client.Step{{Name: "reset-password", Status: "action_required", Message: strings.Repeat("reset it in on-premises AD ", 10)}}}
	var buf bytes.Buffer
	v := &view{w: &buf, tty: true, width: 40, printed: map[string]bool{}}
	v.show(r)
	for _, l := range screen(t, buf.String()) {
		if n := len([]rune(l)); n >= 40 {
			t.Errorf("line of %d columns on a 40-column terminal would wrap and break the redraw: %q", n, l)
		}
	}
}

func TestTenantTextCannotDriveTheTerminal(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"rule\x1b[2J", "a\rb", "x\u009b31m", "raw\x9bbyte", "evil\u202etxt.exe", "bell\x07", "del\x7f"} {
		got := clean(s)
		for _, r := range got {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\u202e' {
				t.Errorf("clean(%q) = %q keeps %U", s, got, r)
			}
		}
		if !strings.Contains(got, "�") {
			t.Errorf("clean(%q) = %q: the character should be shown replaced", s, got)
		}
	}
}

func TestInterruptStopsFollowingNotTheRun(t *testing.T) {
	t.Parallel()
	api := &approvalAPI{}
	env := approvalServer(t, api)
	cmdline(t, env, "remediate", "adele@contoso.example")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(700*time.Millisecond, cancel)
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"tourniquet", "watch", approvalRunID}, func(k string) string { return env[k] }, &out, &errOut)
	if code != exitInterrupted || !strings.Contains(errOut.String(), "stopped following; run "+approvalRunID+" goes on: tourniquet watch "+approvalRunID) {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if len(api.decisions) != 0 || api.status != "awaiting_approval" {
		t.Errorf("an interrupt decided or changed the run: %v %s", api.decisions, api.status)
	}
}

// hostileAPI answers every route with tenant text that tries to drive the terminal: an inbox
// rule named to clear the screen and retitle the window, C1 and bidirectional controls.
type hostileAPI struct{}

const evilRule = "\x1b[2J\x1b]0;pwned\x07evil"

var evilText = evilRule + " \u009b31m \u202eexe.txt \u2066x\u2069 del\x7f cr\rlf"

func (hostileAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	run := map[string]any{"runId": "r-" + evilText, "status": "failed" + evilText, "dryRun": false, "reason": evilText,
		"requestedBy": evilText, "createdAt": "2026-11-30T06:00:00Z", "finishedAt": "2026-11-30T06:01:00Z",
		"user":     map[string]any{"id": evilText, "userPrincipalName": evilText},
		"error":    map[string]any{"code": evilText, "message": evilText},
		"approval": map[string]any{"required": true, "decision": "rejected", "decidedBy": evilText, "reason": evilText},
		"steps": []any{map[string]any{"name": "remove-inbox-rules", "status": "succeeded", "attempts": 2, "message": evilText,
			"startedAt": "2026-11-30T06:00:00Z", "finishedAt": "2026-11-30T06:00:30Z",
			"error":   map[string]any{"code": evilText, "message": evilText},
			"changes": []any{map[string]any{"action": "inbox_rule_removed", "target": evilRule, "reasons": []string{evilText}, "restore": map[string]any{"x": 1}}}}}}
	switch {
	case strings.HasSuffix(r.URL.Path, "/report"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html>\n<p>rule "+evilText+"</p>\n")
	case strings.HasSuffix(r.URL.Path, "/restore"):
		writeDoc(w, 200, map[string]any{"runId": evilText, "items": []any{map[string]any{"step": evilText, "target": evilRule, "result": "failed", "error": map[string]any{"code": evilText, "message": evilText}}}})
	case r.URL.Path == "/api/steps":
		writeDoc(w, 200, []any{map[string]any{"name": evilText, "description": evilText, "impact": evilText}})
	case r.URL.Path == "/api/remediations" && r.Method == http.MethodGet:
		writeDoc(w, 200, []any{run})
	case strings.Contains(r.URL.Path, "20261130t060000-0000000000000404"):
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(409)
		_ = json.NewEncoder(w).Encode(map[string]any{"title": evilText, "status": 409, "code": evilText, "detail": evilText, "runId": evilText})
	default:
		writeDoc(w, 200, run)
	}
}

// Every string the command line prints from the API, on any path (a run, a list, the catalog, a
// restore, a problem, --json, report -o -), reaches the terminal without a control character.
func TestTenantTextNeverReachesTheTerminalWithControlCharacters(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(hostileAPI{})
	t.Cleanup(srv.Close)
	env := map[string]string{"TOURNIQUET_URL": srv.URL, "TOURNIQUET_KEY": "k"}
	id := "20261130t060000-a1b2c3d4e5f60718"
	for _, args := range [][]string{
		{"status", id}, {"status", id, "--json"}, {"watch", id, "--wait", "5s"}, {"runs", "adele@contoso.example"},
		{"runs", "adele@contoso.example", "--json"}, {"steps"}, {"steps", "--json"}, {"report", id, "-o", "-"},
		{"restore", id}, {"restore", id, "--json"}, {"reject", id, "--reason", "x"}, {"approve", id, "--no-wait", "--json"}, {"approve", id, "--wait", "5s"},
		{"remediate", "adele@contoso.example", "--no-wait"}, {"remediate", "adele@contoso.example", "--wait", "5s"},
		{"status", "20261130t060000-0000000000000404"}, {"status", "20261130t060000-0000000000000404", "--json"},
	} {
		res := cmdline(t, env, args...)
		for name, out := range map[string]string{"stdout": res.stdout, "stderr": res.stderr} {
			for _, r := range out {
				if r != '\n' && r != '\t' && unsafe(r) {
					t.Errorf("%v: %s carries %U: %q", args, name, r, out)
					break
				}
			}
		}
		if !strings.Contains(res.stdout+res.stderr, "evil") {
			t.Errorf("%v: the tenant text is not shown at all: %q %q", args, res.stdout, res.stderr)
		}
	}
	// --json still prints a document that decodes to what was sent.
	res := cmdline(t, env, "status", id, "--json")
	var doc struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil || doc.Reason != evilText {
		t.Fatalf("--json: %v, reason %q", err, doc.Reason)
	}
}
