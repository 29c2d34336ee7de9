package hostemu

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/tourniquet/tourniquet/internal/azurite"
)

// fakeHandlerPath is the fake custom handler, built once by TestMain.
var fakeHandlerPath string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hostemu-fakehandler-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fakeHandlerPath = filepath.Join(dir, "handler")
	build := exec.Command(goTool(), "build", "-o", fakeHandlerPath, "./testdata/fakehandler")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fake handler: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func goTool() string {
	if path, err := exec.LookPath("go"); err == nil {
		return path
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// testHostJSON is the lead's host.json with retries shortened for tests.
const testHostJSON = `{"version":"2.0",
 "extensionBundle":{"id":"Microsoft.Azure.Functions.ExtensionBundle","version":"[4.*, 5.0.0)"},
 "customHandler":{"description":{"defaultExecutablePath":"handler","workingDirectory":"","arguments":[]},"enableForwardingHttpRequest":true},
 "extensions":{"http":{"routePrefix":"api"},"queues":{"messageEncoding":"none","maxDequeueCount":3,"visibilityTimeout":"00:00:01","batchSize":16}}}`

func httpFunctionJSON(method, route string) string {
	return fmt.Sprintf(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"function","methods":[%q],"route":%q},{"type":"http","direction":"out","name":"res"}]}`, method, route)
}

func queueFunctionJSON(queue string) string {
	return fmt.Sprintf(`{"bindings":[{"type":"queueTrigger","direction":"in","name":"msg","queueName":%q,"connection":"AzureWebJobsStorage"}]}`, queue)
}

const timerFunctionJSON = `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"%SWEEP_SCHEDULE%"}]}`

// testApp is an app root with the fake handler and a record of what it received.
type testApp struct {
	root       string
	recordFile string
}

func newTestApp(t *testing.T, functions map[string]string) testApp {
	t.Helper()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "host.json"), testHostJSON)
	for name, functionJSON := range functions {
		writeFile(t, filepath.Join(root, name, "function.json"), functionJSON)
	}
	if err := os.Symlink(fakeHandlerPath, filepath.Join(root, "handler")); err != nil {
		t.Fatal(err)
	}
	return testApp{root: root, recordFile: filepath.Join(t.TempDir(), "requests.jsonl")}
}

func (a testApp) start(t *testing.T, ctx context.Context, storage *azurite.Instance, env ...string) *Host {
	t.Helper()
	var output bytes.Buffer
	opts := Options{
		AppRoot: a.root,
		Env:     append([]string{"FAKE_RECORD_FILE=" + a.recordFile}, env...),
		Output:  &output,
	}
	if storage != nil {
		opts.StorageConnectionString = storage.ConnectionString
	}
	h, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if t.Failed() {
			t.Logf("host output:\n%s", h.Output())
		}
	})
	return h
}

// recordedRequest mirrors the fake handler's record lines.
type recordedRequest struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Host   string              `json:"host"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
}

func (a testApp) requests(t *testing.T, path string) []recordedRequest {
	t.Helper()
	f, err := os.Open(a.recordFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recordedRequest
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		var r recordedRequest
		if err := json.Unmarshal(scanner.Bytes(), &r); err != nil {
			t.Fatalf("record line %q: %v", scanner.Text(), err)
		}
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sharedStorage(t *testing.T, ctx context.Context) *azurite.Instance {
	t.Helper()
	inst, err := azurite.Shared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// uniqueQueue names a queue no other test (or package sharing Azurite) uses.
func uniqueQueue(t *testing.T, purpose string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "hostemu-" + hex.EncodeToString(b[:]) + "-" + purpose
}

func queueClient(t *testing.T, storage *azurite.Instance, name string) *azqueue.QueueClient {
	t.Helper()
	q, err := azqueue.NewQueueClientFromConnectionString(storage.ConnectionString, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func enqueue(t *testing.T, ctx context.Context, q *azqueue.QueueClient, text string) string {
	t.Helper()
	resp, err := q.EnqueueMessage(ctx, text, nil)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return *resp.Messages[0].MessageID
}

func invocationsOf(h *Host, function string) []Invocation {
	var out []Invocation
	for _, inv := range h.Invocations() {
		if inv.Function == function {
			out = append(out, inv)
		}
	}
	return out
}

func TestStartWaitsForHandlerAndForwardsHTTPRequestsAsIs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	storage := sharedStorage(t, ctx)
	app := newTestApp(t, map[string]string{
		"StepRevokeSessions": httpFunctionJSON("post", "steps/revoke-sessions"),
		"GetRemediation":     httpFunctionJSON("get", "remediations/{runId}"),
	})
	const startDelay = 400 * time.Millisecond
	began := time.Now()
	h := app.start(t, ctx, storage, "FAKE_START_DELAY="+startDelay.String(), "FAKE_EXTRA=from-env")
	if took := time.Since(began); took < startDelay {
		t.Fatalf("Start returned after %v, before the handler listened (%v)", took, startDelay)
	}
	if first := app.requests(t, "")[0]; first.Method != http.MethodGet || first.Path != "/" {
		t.Fatalf("first request to the handler was %s %s, want the readiness ping GET /", first.Method, first.Path)
	}

	front, err := url.Parse(h.URL())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		method     string
		path       string // with query
		body       string
		wantStatus int
	}{
		{name: "post with query and body", method: "POST", path: "/api/steps/revoke-sessions?dryRun=true&tag=a%20b", body: `{"user":"u@contoso.com"}`, wantStatus: 201},
		{name: "route parameter, path case kept", method: "GET", path: "/api/Remediations/r-42", wantStatus: 201},
		{name: "method matched case-insensitively", method: "post", path: "/api/steps/revoke-sessions", body: "{}", wantStatus: 201},
		{name: "wrong method", method: "DELETE", path: "/api/remediations/r-42", wantStatus: 404},
		{name: "unknown route", method: "GET", path: "/api/nothing", wantStatus: 404},
		{name: "function name is not a route", method: "GET", path: "/GetRemediation", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, tt.method, h.URL()+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Custom", "v1")
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", "playbook/1.0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, answer, tt.wantStatus)
			}
			if tt.wantStatus == 404 {
				return
			}
			if resp.Header.Get("X-Fake-Handler") != "echo" {
				t.Errorf("the handler's answer headers were not copied back: %v", resp.Header)
			}
			var echo struct {
				Request    recordedRequest `json:"request"`
				StorageSet bool            `json:"storageSet"`
				Extra      string          `json:"extra"`
			}
			if err := json.Unmarshal(answer, &echo); err != nil {
				t.Fatalf("answer %s: %v", answer, err)
			}
			got := echo.Request
			wantPath, wantQuery, _ := strings.Cut(tt.path, "?")
			if got.Method != tt.method || got.Path != wantPath || got.Query != wantQuery || got.Body != tt.body {
				t.Errorf("handler got %s %s ? %s body %q; want %s %s ? %s body %q",
					got.Method, got.Path, got.Query, got.Body, tt.method, wantPath, wantQuery, tt.body)
			}
			if got.Host != front.Host {
				t.Errorf("handler saw Host %q, want the caller's %q", got.Host, front.Host)
			}
			header := http.Header(got.Header)
			if header.Get("X-Custom") != "v1" || header.Get("Content-Type") != "application/json" {
				t.Errorf("caller headers not forwarded: %v", header)
			}
			if header.Get(headerInvocationID) == "" || header.Get(headerHostVersion) != HostVersion {
				t.Errorf("host invocation headers missing: %v", header)
			}
			if ua := header.Get("User-Agent"); ua != "playbook/1.0 Azure-Functions-Host/"+HostVersion {
				t.Errorf("User-Agent %q, want the caller's with the host appended", ua)
			}
			if !echo.StorageSet || echo.Extra != "from-env" {
				t.Errorf("handler environment: AzureWebJobsStorage set %v, FAKE_EXTRA %q", echo.StorageSet, echo.Extra)
			}
		})
	}

	if got := len(invocationsOf(h, "StepRevokeSessions")); got != 2 {
		t.Errorf("%d StepRevokeSessions invocations recorded, want 2", got)
	}
}

func TestQueueMessageArrivesDoubleEncodedWithStringMetadata(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	storage := sharedStorage(t, ctx)
	queueName := uniqueQueue(t, "ok")
	app := newTestApp(t, map[string]string{"QueueOK": queueFunctionJSON(queueName)})
	h := app.start(t, ctx, storage)

	queue := queueClient(t, storage, queueName)
	const text = `{"runId":"r1","attempt":2,"nested":{"a":1},"tags":["x"],"gone":null}`
	messageID := enqueue(t, ctx, queue, text)
	if err := h.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	delivered := app.requests(t, "/QueueOK")
	if len(delivered) != 1 {
		t.Fatalf("%d deliveries, want 1", len(delivered))
	}
	req := delivered[0]
	header := http.Header(req.Header)
	if req.Method != http.MethodPost || header.Get("Content-Type") != "application/json" ||
		header.Get(headerHostVersion) != HostVersion || header.Get("User-Agent") != "Azure-Functions-Host/"+HostVersion ||
		!regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(header.Get(headerInvocationID)) {
		t.Errorf("invocation request %s with headers %v", req.Method, header)
	}

	var envelope struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(req.Body), &envelope); err != nil {
		t.Fatalf("body %s: %v", req.Body, err)
	}
	// The message text is JSON-encoded as a string, and that string encoded again.
	var once string
	if err := json.Unmarshal(envelope.Data["msg"], &once); err != nil {
		t.Fatalf("Data.msg %s is not a JSON string: %v", envelope.Data["msg"], err)
	}
	var twice string
	if err := json.Unmarshal([]byte(once), &twice); err != nil || twice != text {
		t.Fatalf("Data.msg decoded twice = %q (%v), want the message text", twice, err)
	}

	wantMetadata := map[string]string{
		"DequeueCount": `"1"`,
		"Id":           mustJSON(t, mustJSON(t, messageID)),
		"runId":        `"\"r1\""`,
		"attempt":      `"2"`,
		"nested":       `{"a":1}`,
		"tags":         `"[\"x\"]"`,
	}
	for key, want := range wantMetadata {
		if got := string(envelope.Metadata[key]); got != want {
			t.Errorf("Metadata.%s = %s, want %s", key, got, want)
		}
	}
	if _, ok := envelope.Metadata["gone"]; ok {
		t.Error("Metadata has the null property gone")
	}
	if pop := string(envelope.Metadata["PopReceipt"]); !strings.HasPrefix(pop, `"\"`) {
		t.Errorf("Metadata.PopReceipt = %s, want a JSON-encoded string", pop)
	}
	for _, key := range []string{"InsertionTime", "ExpirationTime", "NextVisibleTime"} {
		var value string
		if err := json.Unmarshal(envelope.Metadata[key], &value); err != nil {
			t.Fatalf("Metadata.%s: %v", key, err)
		}
		if _, err := time.Parse(time.RFC3339, value); err != nil {
			t.Errorf("Metadata.%s = %q: %v", key, value, err)
		}
	}
	var sys struct{ MethodName string }
	if err := json.Unmarshal(envelope.Metadata["sys"], &sys); err != nil || sys.MethodName != "QueueOK" {
		t.Errorf("Metadata.sys = %s", envelope.Metadata["sys"])
	}

	invocations := invocationsOf(h, "QueueOK")
	if len(invocations) != 1 {
		t.Fatalf("invocations %+v, want 1", invocations)
	}
	inv := invocations[0]
	if inv.Status != 200 || inv.Error != "" || inv.MessageID != messageID || inv.Queue != queueName || inv.DequeueCount != 1 {
		t.Errorf("invocation %+v", inv)
	}
	if n, err := queueLength(ctx, queue); err != nil || n != 0 {
		t.Errorf("queue holds %d messages (%v) after success, want 0", n, err)
	}
	if !strings.Contains(h.Output(), "QueueOK log: handled") {
		t.Errorf("the handler's Logs were not written to the output:\n%s", h.Output())
	}
}

func TestFailedInvocationsRetryThenLandInPoisonQueue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	storage := sharedStorage(t, ctx)
	failures := map[string]string{ // function => queue
		"QueueFail": uniqueQueue(t, "fail"), // 500
		"QueueText": uniqueQueue(t, "text"), // 200 text/plain
		"QueueNull": uniqueQueue(t, "null"), // 200 JSON null
	}
	functions := map[string]string{}
	for fn, queue := range failures {
		functions[fn] = queueFunctionJSON(queue)
	}
	app := newTestApp(t, functions)
	h := app.start(t, ctx, storage)

	messageIDs := map[string]string{}
	for fn, queue := range failures {
		messageIDs[fn] = enqueue(t, ctx, queueClient(t, storage, queue), `{"runId":"`+fn+`"}`)
	}
	if err := h.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	const maxDequeueCount = 3 // testHostJSON
	for fn, queue := range failures {
		t.Run(fn, func(t *testing.T) {
			invocations := invocationsOf(h, fn)
			if len(invocations) != maxDequeueCount {
				t.Fatalf("%d deliveries %+v, want maxDequeueCount %d", len(invocations), invocations, maxDequeueCount)
			}
			for i, inv := range invocations {
				if inv.DequeueCount != i+1 || inv.Error == "" || inv.MessageID != messageIDs[fn] {
					t.Errorf("delivery %d: %+v, want DequeueCount %d and an error", i, inv, i+1)
				}
				if i > 0 {
					// visibilityTimeout is 1 s; Azurite counts whole seconds.
					if gap := inv.At.Sub(invocations[i-1].At); gap < 900*time.Millisecond {
						t.Errorf("redelivery %d came %v after the previous one, before visibilityTimeout", i, gap)
					}
				}
			}
			if n, err := queueLength(ctx, queueClient(t, storage, queue)); err != nil || n != 0 {
				t.Errorf("queue holds %d messages (%v), want 0", n, err)
			}
			peeked, err := queueClient(t, storage, queue+poisonSuffix).PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: int32Ptr(32)})
			if err != nil {
				t.Fatal(err)
			}
			if len(peeked.Messages) != 1 || *peeked.Messages[0].MessageText != `{"runId":"`+fn+`"}` {
				t.Fatalf("poison queue holds %d messages, want the one message unchanged", len(peeked.Messages))
			}
		})
	}
}

func TestFireTimerSendsTimerInfo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	app := newTestApp(t, map[string]string{
		"Sweep":  timerFunctionJSON,
		"Health": httpFunctionJSON("get", "health"),
	})
	h := app.start(t, ctx, nil)

	status, err := h.FireTimer(ctx, "Sweep")
	if err != nil || status != 200 {
		t.Fatalf("FireTimer = %d, %v; want 200", status, err)
	}
	fired := app.requests(t, "/Sweep")
	if len(fired) != 1 || fired[0].Method != http.MethodPost {
		t.Fatalf("timer requests %+v, want one POST /Sweep", fired)
	}
	var envelope struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(fired[0].Body), &envelope); err != nil {
		t.Fatal(err)
	}
	if got, want := string(envelope.Data["timer"]), `{"IsPastDue":false,"Schedule":{"AdjustForDST":true},"ScheduleStatus":null}`; got != want {
		t.Errorf("Data.timer = %s, want %s", got, want)
	}
	var sys struct{ MethodName, UtcNow, RandGuid string }
	if err := json.Unmarshal(envelope.Metadata["sys"], &sys); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339Nano, sys.UtcNow); err != nil || sys.MethodName != "Sweep" || len(sys.RandGuid) != 36 {
		t.Errorf("Metadata.sys = %+v (%v)", sys, err)
	}
	if len(envelope.Metadata) != 1 {
		t.Errorf("timer Metadata %v, want only sys", envelope.Metadata)
	}

	for _, notTimer := range []string{"Health", "Missing"} {
		if _, err := h.FireTimer(ctx, notTimer); err == nil {
			t.Errorf("FireTimer(%s) succeeded, want an error", notTimer)
		}
	}
}

func TestKillAndRestartRedeliverAnInFlightMessage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	storage := sharedStorage(t, ctx)
	queueName := uniqueQueue(t, "hang")
	app := newTestApp(t, map[string]string{"QueueHang": queueFunctionJSON(queueName)})
	h := app.start(t, ctx, storage)

	messageID := enqueue(t, ctx, queueClient(t, storage, queueName), `{"runId":"r-crash"}`)
	waitFor(t, ctx, "the handler to receive the message", func() bool {
		return len(app.requests(t, "/QueueHang")) == 1
	})
	if err := h.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := h.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	invocations := invocationsOf(h, "QueueHang")
	if len(invocations) != 2 {
		t.Fatalf("invocations %+v, want the cut-off one and the redelivery", invocations)
	}
	crashed, redelivered := invocations[0], invocations[1]
	if crashed.DequeueCount != 1 || crashed.Status != 0 || crashed.Error == "" {
		t.Errorf("first delivery %+v, want DequeueCount 1 without an answer", crashed)
	}
	if redelivered.DequeueCount != 2 || redelivered.Status != 200 || redelivered.MessageID != messageID {
		t.Errorf("redelivery %+v, want the same message with DequeueCount 2 answered 200", redelivered)
	}
	if n, err := queueLength(ctx, queueClient(t, storage, queueName+poisonSuffix)); err != nil || n != 0 {
		t.Errorf("poison queue holds %d messages (%v), want 0", n, err)
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, done func() bool) {
	t.Helper()
	for !done() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
