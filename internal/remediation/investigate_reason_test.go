package remediation_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/server"
)

// apiCall serves one request to the HTTP API over the env's service, with a function key as
// the Functions host forwards it.
func (e *env) apiCall(method, path, key, body string) (int, []byte) {
	e.t.Helper()
	srv := server.New(e.svc, e.svc.Store, "functionkey", slog.New(slog.NewJSONHandler(io.Discard, nil)))
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Functions-Key", key)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// invokeQueue delivers one queue message to a queue function as the Functions host does.
func (e *env) invokeQueue(function, message string) int {
	e.t.Helper()
	srv := server.New(e.svc, e.svc.Store, "functionkey", e.svc.Log)
	text, _ := json.Marshal(message)
	id, _ := json.Marshal("0f6c4b1e-3a55-4c39-9d1f-" + function[len(function)-12:])
	body, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"msg": string(text)},
		"Metadata": map[string]any{"DequeueCount": "1", "Id": string(id), "sys": map[string]any{"MethodName": function}},
	})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/"+function, strings.NewReader(string(body))))
	return rec.Code
}

// runRows counts the entities of the env's run-record table.
func (e *env) runRows() int {
	e.t.Helper()
	pager := tableSvc.NewClient(e.prefix + "Runs").NewListEntitiesPager(nil)
	n := 0
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(page.Entities)
	}
	return n
}

// logLines returns the env's log lines whose msg is msg, decoded.
func (e *env) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

const investigationLog = "investigation reads the user's sign-ins, audit events and mail trace"

// Under INVESTIGATION_REASON_REQUIRED an investigate-only run without a reason is refused
// 400 invalid_request on both HTTP routes, and a queued one is dropped (not retried, not
// poisoned): nothing is read from the tenant and no run is recorded.
func TestInvestigateOnlyRunWithoutAReasonIsRefusedWhenRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{InvestigationReasonRequired: true})
	user := e.demo.UPN
	for _, tc := range []struct{ path, body string }{
		{"/api/remediations", `{"user":"` + user + `","steps":["investigate"],"mode":"sync"}`},
		{"/api/remediations", `{"user":"` + user + `","steps":["investigate"],"reason":"  ","dryRun":true}`},
		{"/api/steps/investigate", `{"user":"` + user + `"}`},
		{"/api/steps/investigate", `{"user":"` + user + `","reason":"","dryRun":true}`},
	} {
		code, body := e.apiCall("POST", tc.path, "investigator-key", tc.body)
		var problem struct{ Code, Detail string }
		_ = json.Unmarshal(body, &problem)
		if code != http.StatusBadRequest || problem.Code != "invalid_request" || !strings.Contains(problem.Detail, "reason is required") {
			t.Errorf("POST %s %s: %d %s; want 400 invalid_request saying a reason is required", tc.path, tc.body, code, body)
		}
	}
	for _, tc := range []struct{ function, message string }{
		{"queue-step-investigate", `{"user":"` + user + `"}`},
		{"queue-remediations", `{"user":"` + user + `","steps":["investigate"]}`},
	} {
		if code := e.invokeQueue(tc.function, tc.message); code != http.StatusOK {
			t.Errorf("%s: the host got %d; a message no retry can fix must not be delivered again", tc.function, code)
		}
	}
	if dropped := e.logLines("queued request dropped"); len(dropped) != 2 || !strings.Contains(dropped[0]["err"].(string), "reason is required") {
		t.Errorf("queued refusals logged %v; want two naming the missing reason", dropped)
	}
	if n := e.runRows(); n != 0 {
		t.Errorf("%d run-record rows; a refused investigation records nothing", n)
	}
	if reqs := e.sim.Requests(); len(reqs) != 0 {
		t.Errorf("%d requests reached the tenant (first %s %s); a refused investigation reads nothing", len(reqs), reqs[0].Method, reqs[0].Path)
	}
	if e.queue.take() != nil {
		t.Error("a refused investigation enqueued a step")
	}
}

// With a reason it runs, and the log says who asked (the key's fingerprint, or the queue),
// for whom and why; the run document holds requestedBy and reason.
func TestInvestigationLogsWhoAskedForWhomAndWhy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{InvestigationReasonRequired: true})
	code, body := e.apiCall("POST", "/api/steps/investigate", "investigator-key", `{"user":"`+e.demo.UPN+`","reason":"INC-4711 phishing report"}`)
	if code != http.StatusOK {
		t.Fatalf("POST /api/steps/investigate with a reason: %d %s", code, body)
	}
	var run struct {
		RunID, Status, Reason, RequestedBy string
	}
	if err := json.Unmarshal(body, &run); err != nil {
		t.Fatal(err)
	}
	fingerprint := "functionkey:" + server.KeyFingerprint("investigator-key")
	if run.Status != "succeeded" || run.Reason != "INC-4711 phishing report" || run.RequestedBy != fingerprint {
		t.Fatalf("run %+v; want succeeded, the reason and requestedBy %s", run, fingerprint)
	}
	lines := e.logLines(investigationLog)
	if len(lines) != 1 {
		t.Fatalf("%d investigation log lines, want 1:\n%s", len(lines), e.logs.String())
	}
	l := lines[0]
	if l["level"] != "INFO" || l["runId"] != run.RunID || l["userId"] != e.demo.UserID || l["requestedBy"] != fingerprint || l["reason"] != "INC-4711 phishing report" {
		t.Errorf("investigation log %v; want INFO naming run %s, user %s, %s and the reason", l, run.RunID, e.demo.UserID, fingerprint)
	}
	if strings.Contains(e.logs.String(), "investigator-key") {
		t.Error("the function key itself was logged")
	}

	// From a queue: the requester is the queue, which is all a queue message says.
	if code := e.invokeQueue("queue-step-investigate", `{"user":"`+e.demo.UPN+`","reason":"INC-4712"}`); code != http.StatusOK {
		t.Fatalf("queued investigation with a reason: %d", code)
	}
	e.drain(1)
	lines = e.logLines(investigationLog)
	if len(lines) != 2 || lines[1]["requestedBy"] != "queue:step-investigate" || lines[1]["reason"] != "INC-4712" {
		t.Errorf("queued investigation logged %v; want requestedBy queue:step-investigate and its reason", lines)
	}
}

// Off (the default, as the contract has reason optional), an investigate-only run needs no
// reason; on, a run that also contains the account does not either: it is a remediation,
// started with the power to remediate, and its investigation serves the containment.
func TestInvestigationReasonRuleLeavesOtherRunsAlone(t *testing.T) {
	t.Parallel()
	off := newEnv(t, remediation.Config{})
	if code, body := off.apiCall("POST", "/api/steps/investigate", "k", `{"user":"`+off.demo.UPN+`"}`); code != http.StatusOK {
		t.Errorf("setting off: investigate without a reason answered %d %s; want the contract's 200", code, body)
	}
	if code, body := off.apiCall("POST", "/api/remediations", "k", `{"user":"`+off.demo.UPN+`","steps":["investigate"],"mode":"sync","dryRun":true}`); code != http.StatusOK {
		t.Errorf("setting off: investigate-only start without a reason answered %d %s", code, body)
	}
	if lines := off.logLines(investigationLog); len(lines) != 2 || lines[0]["reason"] != "" || lines[0]["requestedBy"] != "functionkey:"+server.KeyFingerprint("k") {
		t.Errorf("setting off: investigations logged %v; want both, with who asked and an empty reason", lines)
	}

	on := newEnv(t, remediation.Config{InvestigationReasonRequired: true})
	code, body := on.apiCall("POST", "/api/remediations", "k", `{"user":"`+on.demo.UPN+`","steps":["investigate","revoke-sessions"],"mode":"sync","dryRun":true}`)
	if code != http.StatusOK {
		t.Errorf("setting on: investigate with revoke-sessions without a reason answered %d %s; want it run", code, body)
	}
}
