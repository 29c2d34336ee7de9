package hostemu

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseTimeSpan(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "00:00:02", want: 2 * time.Second},
		{in: "00:05:00", want: 5 * time.Minute},
		{in: "01:30", want: 90 * time.Minute},
		{in: "00:00:00.500", want: 500 * time.Millisecond},
		{in: "1.02:00:00", want: 26 * time.Hour},
		{in: "2", wantErr: true},
		{in: "00:61:00", wantErr: true},
		{in: "aa:00:00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTimeSpan(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestMatchHTTPFunction(t *testing.T) {
	functions := []*function{
		httpFunction(t, "GetRemediation", "remediations/{runId}", "GET"),
		httpFunction(t, "ListRemediations", "remediations", "get"),
		httpFunction(t, "StartRemediation", "remediations", "post"),
		httpFunction(t, "RestoreRoles", "remediations/{runId}/restore-admin-roles", "POST"),
		httpFunction(t, "RevokeSessions", "steps/revoke-sessions", "POST"),
		httpFunction(t, "AnyStep", "steps/{step}", "POST"),
		httpFunction(t, "Files", "files/{*rest}"),
		httpFunction(t, "Optional", "opt/{id?}", "GET"),
		{name: "QueueOnly", kind: queueTrigger, queueName: "q"},
	}
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/api/remediations/r1", "GetRemediation"},
		{"get", "/API/Remediations/r1/", "GetRemediation"},
		{"GET", "/api/remediations", "ListRemediations"},
		{"POST", "/api/remediations", "StartRemediation"},
		{"POST", "/api/remediations/r1/restore-admin-roles", "RestoreRoles"},
		{"POST", "/api/steps/revoke-sessions", "RevokeSessions"}, // literal beats {step}
		{"POST", "/api/steps/reset-password", "AnyStep"},
		{"DELETE", "/api/remediations/r1", ""}, // right path, wrong method: not found
		{"GET", "/api/remediations/r1/extra", ""},
		{"GET", "/remediations/r1", ""}, // no route prefix
		{"PUT", "/api/files/a/b/c", "Files"},
		{"GET", "/api/files", "Files"},
		{"GET", "/api/opt", "Optional"},
		{"GET", "/api/opt/7", "Optional"},
		{"GET", "/api/QueueOnly", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			got := matchHTTPFunction(functions, tt.method, tt.path)
			name := ""
			if got != nil {
				name = got.name
			}
			if name != tt.want {
				t.Fatalf("matched %q, want %q", name, tt.want)
			}
		})
	}
}

func httpFunction(t *testing.T, name, template string, methods ...string) *function {
	t.Helper()
	fn, err := functionFromBindings(name, []bindingFile{
		{Type: "httpTrigger", Direction: "in", Name: "req", Route: &template, Methods: methods},
		{Type: "http", Direction: "out", Name: "res"},
	}, "api", envLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

func TestParseInvocationResult(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantErr     bool
	}{
		{name: "empty object", contentType: "application/json", body: "{}"},
		{name: "full result", contentType: "application/json; charset=utf-8", body: `{"Outputs":{"res":{"body":"x"}},"Logs":["a"],"ReturnValue":1}`},
		{name: "text/json", contentType: "text/json", body: "{}"},
		{name: "null body", contentType: "application/json", body: "null", wantErr: true},
		{name: "empty body", contentType: "application/json", body: "", wantErr: true},
		{name: "plain text", contentType: "text/plain", body: "{}", wantErr: true},
		{name: "no content type", contentType: "", body: "{}", wantErr: true},
		{name: "array", contentType: "application/json", body: "[]", wantErr: true},
		{name: "invalid JSON", contentType: "application/json", body: "{", wantErr: true},
		{name: "logs not a list", contentType: "application/json", body: `{"Logs":"a"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseInvocationResult(tt.contentType, []byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestQueueInvocationEncodesLikeTheHost(t *testing.T) {
	insertion := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	msg := queueMessage{
		ID: "m-1", PopReceipt: "pop", Text: `{"runId":"r1","n":2,"obj":{"a":true},"list":[1],"none":null,"QueueTrigger":"x"}`,
		DequeueCount: 3, InsertionTime: insertion, ExpirationTime: insertion.Add(time.Hour), NextVisibleTime: insertion.Add(time.Minute),
	}
	raw, err := json.Marshal(queueInvocation("StepRevokeSessions", "msg", msg, insertion))
	if err != nil {
		t.Fatal(err)
	}
	var envelope struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		t.Fatal(err)
	}
	wantData := `"{\"runId\":\"r1\",\"n\":2,\"obj\":{\"a\":true},\"list\":[1],\"none\":null,\"QueueTrigger\":\"x\"}"`
	if got := string(envelope.Data["msg"]); got != mustJSON(t, wantData) {
		t.Errorf("Data.msg = %s, want the text encoded twice", got)
	}
	wantMetadata := map[string]string{
		"DequeueCount":    `"3"`,
		"Id":              `"\"m-1\""`,
		"PopReceipt":      `"\"pop\""`,
		"InsertionTime":   `"2025-05-01T10:00:00+00:00"`,
		"ExpirationTime":  `"2025-05-01T11:00:00+00:00"`,
		"NextVisibleTime": `"2025-05-01T10:01:00+00:00"`,
		"runId":           `"\"r1\""`,
		"n":               `"2"`,
		"obj":             `{"a":true}`,
		"list":            `"[1]"`,
	}
	for key, want := range wantMetadata {
		if got := string(envelope.Metadata[key]); got != want {
			t.Errorf("Metadata.%s = %s, want %s", key, got, want)
		}
	}
	for _, absent := range []string{"none", "QueueTrigger"} {
		if _, ok := envelope.Metadata[absent]; ok {
			t.Errorf("Metadata has %s, which the host leaves out", absent)
		}
	}
	var sys struct{ MethodName, UtcNow, RandGuid string }
	if err := json.Unmarshal(envelope.Metadata["sys"], &sys); err != nil {
		t.Fatal(err)
	}
	if sys.MethodName != "StepRevokeSessions" || sys.UtcNow != "2025-05-01T10:00:00Z" || len(sys.RandGuid) != 36 {
		t.Errorf("sys = %+v", sys)
	}
}

func mustJSON(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadApp(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "host.json"), `{"version":"2.0",
		"customHandler":{"description":{"defaultExecutablePath":"handler","workingDirectory":"","arguments":["-v"]},"enableForwardingHttpRequest":true},
		"extensions":{"http":{"routePrefix":"api"},"queues":{"messageEncoding":"none","maxDequeueCount":4,"visibilityTimeout":"00:00:02","maxPollingInterval":"00:00:03","batchSize":8}}}`)
	writeFile(t, filepath.Join(root, "StepQueue", "function.json"),
		`{"bindings":[{"type":"queueTrigger","direction":"in","name":"msg","queueName":"%STEP_QUEUE%","connection":"AzureWebJobsStorage"}]}`)
	writeFile(t, filepath.Join(root, "Health", "function.json"),
		`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"]},{"type":"http","direction":"out","name":"res"}]}`)
	writeFile(t, filepath.Join(root, "Off", "function.json"),
		`{"disabled":true,"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 * * * * *"}]}`)
	if err := os.Mkdir(filepath.Join(root, "not-a-function"), 0o755); err != nil {
		t.Fatal(err)
	}

	app, err := loadApp(root, envLookup([]string{"STEP_QUEUE=step-x"}))
	if err != nil {
		t.Fatal(err)
	}
	if app.executable != filepath.Join(root, "handler") || app.workingDir != root || strings.Join(app.arguments, " ") != "-v" {
		t.Errorf("executable %q in %q with %v", app.executable, app.workingDir, app.arguments)
	}
	q := app.queues
	if q.base64Messages || q.maxDequeueCount != 4 || q.visibilityTimeout != 2*time.Second || q.maxPollingInterval != 3*time.Second || q.batchSize != 8 {
		t.Errorf("queue settings %+v", q)
	}
	if app.functionTimeout != defaultFunctionTimeout {
		t.Errorf("function timeout %v, want the default", app.functionTimeout)
	}
	names := map[string]*function{}
	for _, fn := range app.functions {
		names[fn.name] = fn
	}
	if len(names) != 2 || names["StepQueue"] == nil || names["Health"] == nil {
		t.Fatalf("functions %v, want StepQueue and Health", names)
	}
	if names["StepQueue"].queueName != "step-x" {
		t.Errorf("queue name %q, want the app setting's value", names["StepQueue"].queueName)
	}
	if !names["Health"].route.matches("/api/Health") || !names["Health"].forwardable {
		t.Errorf("Health: default route should be the function name and it should be forwarded")
	}

	if _, err := loadApp(root, envLookup(nil)); err == nil || !strings.Contains(err.Error(), "STEP_QUEUE") {
		t.Errorf("missing app setting: err = %v, want it named", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
