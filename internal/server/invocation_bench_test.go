package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/server"
	"github.com/tourniquet/tourniquet/internal/steps"
)

// replayTransport passes Table Storage requests through to Azurite and remembers each GET
// answer; once replaying, it answers GETs from memory and refuses everything else, so a
// benchmark measures the handler alone and proves the invocation wrote nothing.
type replayTransport struct {
	mu        sync.Mutex
	replaying bool
	answers   map[string]recorded // by URL path
}

type recorded struct {
	status int
	header http.Header
	body   []byte
}

func (t *replayTransport) Do(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	replaying := t.replaying
	ans, ok := t.answers[req.URL.Path]
	t.mu.Unlock()
	if replaying {
		if req.Method != http.MethodGet || !ok {
			return nil, fmt.Errorf("replay: unexpected %s %s", req.Method, req.URL.Path)
		}
		return &http.Response{StatusCode: ans.status, Header: ans.header.Clone(), Body: io.NopCloser(bytes.NewReader(ans.body)), Request: req}, nil
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.answers[req.URL.Path] = recorded{resp.StatusCode, resp.Header.Clone(), body}
	t.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// refusingQueue fails the benchmark if the invocation tried to enqueue anything.
type refusingQueue struct{}

func (refusingQueue) Enqueue(context.Context, string, []byte) error {
	return fmt.Errorf("the no-op invocation must not enqueue")
}

// hostEnvelope is a queue invocation as the Functions host sends it: the message text
// JSON-encoded twice, metadata values as JSON text.
func hostEnvelope(message string) []byte {
	text, _ := json.Marshal(message)
	id, _ := json.Marshal("0f6c4b1e-3a55-4c39-9d1f-6a1b2c3d4e5f")
	body, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"msg": string(text)},
		"Metadata": map[string]any{
			"DequeueCount": "1", "Id": string(id), "PopReceipt": string(id),
			"InsertionTime": "2026-01-01T10:00:00+00:00",
			"sys":           map[string]any{"MethodName": "queue-step-revoke-sessions", "UtcNow": "2026-01-01T10:00:00Z"},
		},
	})
	return body
}

// BenchmarkInvocationNoOpStep is the host protocol path of a queue-triggered step whose
// work is already done (a duplicate delivery): POST /queue-step-revoke-sessions with a
// double-encoded envelope, decode, read the run (claim), see the step final, read again
// (advance), answer the host. "azurite" includes the two Table Storage reads over
// loopback; "replayed-store" answers them from memory, leaving the handler's own cost
// (HTTP routing, envelope and message decoding, the Table SDK pipeline, entity decoding,
// the response).
func BenchmarkInvocationNoOpStep(b *testing.B) {
	ctx := context.Background()
	inst, err := azurite.Shared(ctx)
	if err != nil {
		b.Skipf("azurite: %v", err)
	}
	transport := &replayTransport{answers: map[string]recorded{}}
	svc, err := aztables.NewServiceClientFromConnectionString(inst.ConnectionString, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: transport}})
	if err != nil {
		b.Fatal(err)
	}
	store, err := runs.Open(ctx, svc, fmt.Sprintf("Inv%d", time.Now().UnixNano()%1e9))
	if err != nil {
		b.Fatal(err)
	}
	finished := time.Now().UTC()
	run := &runs.Run{
		RunID: "20260101t100000-00000000000000ab", Status: runs.Succeeded, Mode: "async", CreatedAt: finished, FinishedAt: &finished,
		User:  runs.UserRef{ID: "11111111-1111-4111-8111-111111111111", UserPrincipalName: "adele.vance@contoso.example"},
		Steps: []runs.Step{{Name: string(steps.RevokeSessions), Status: runs.StepSucceeded, Attempts: 1, Changes: []runs.Change{}}},
	}
	if err := store.Create(ctx, run); err != nil {
		b.Fatal(err)
	}
	service := &remediation.Service{
		Store: store, Runner: &steps.Runner{}, Queue: refusingQueue{},
		Config: remediation.Config{MaxPerHour: 20, MaxDequeueCount: 5},
		Log:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	handler := server.New(service, store, "functionkey", service.Log)
	body := hostEnvelope(`{"runId":"` + run.RunID + `"}`)

	invoke := func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/queue-step-revoke-sessions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"Outputs"`) {
				b.Fatalf("invocation answered %d %s", rec.Code, rec.Body.String())
			}
		}
	}
	b.Run("azurite", invoke)
	transport.mu.Lock()
	transport.replaying = true
	transport.mu.Unlock()
	b.Run("replayed-store", invoke)
}
