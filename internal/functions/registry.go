// Package functions lists Tourniquet's Azure Functions (the single source from which the
// function.json folders are generated) and speaks the custom-handler invocation protocol.
package functions

//go:generate go run ../../cmd/genfunctions -root ../..

import (
	"encoding/json"
	"fmt"

	"github.com/tourniquet/tourniquet/internal/catalog"
)

// Trigger is how the host starts a function.
type Trigger string

const (
	HTTP  Trigger = "http"
	Queue Trigger = "queue"
	Timer Trigger = "timer"
)

// Function is one Azure Function of the app: one folder with a function.json.
type Function struct {
	Name      string   // folder name; the host POSTs /{Name} for queue and timer triggers
	Trigger   Trigger  //
	Methods   []string // HTTP methods (lowercase)
	Route     string   // HTTP route below the /api prefix
	AuthLevel string   // "function" or "anonymous"
	Queue     string   // queue name
	Schedule  string   // NCRONTAB, or %SETTING%
	Step      catalog.Name
}

// Queue names of the contract (section 3).
const (
	RemediationsQueue = "remediations"
	// WatchQueue carries the checks of the eviction watch (contract 1.3): {"runId", "check"}.
	WatchQueue = "watch"
	// MessageBinding and TimerBinding name the trigger bindings, i.e. the keys of Data in an
	// invocation.
	MessageBinding = "msg"
	TimerBinding   = "timer"
	RequestBinding = "req"
)

// RecoverTimer is the timer function that brings runs that stopped moving to a final
// status (remediation.Service.Recover), every minute: a run whose step lease ran out moves
// again within a few minutes, not at the next sweep.
const (
	RecoverTimer    = "timer-recover"
	RecoverSchedule = "0 * * * * *"
)

// StepQueue names the queue of a step.
func StepQueue(name catalog.Name) string { return "step-" + string(name) }

// Registry returns every function of the app, in a fixed order.
func Registry() []Function {
	fns := []Function{
		// Starting runs and reading them are separate functions on one route (the host tells
		// them apart by method), so a read-only caller can hold a key that starts nothing.
		{Name: "http-start-remediation", Trigger: HTTP, Methods: []string{"post"}, Route: "remediations", AuthLevel: "function"},
		{Name: "http-list-remediations", Trigger: HTTP, Methods: []string{"get"}, Route: "remediations", AuthLevel: "function"},
		{Name: "http-remediation", Trigger: HTTP, Methods: []string{"get"}, Route: "remediations/{runId}", AuthLevel: "function"},
		{Name: "http-report", Trigger: HTTP, Methods: []string{"get"}, Route: "remediations/{runId}/report", AuthLevel: "function"},
		// Restore grants privilege back: its own functions, so their keys can be few.
		{Name: "http-restore-admin-roles", Trigger: HTTP, Methods: []string{"post"}, Route: "remediations/{runId}/restore-admin-roles", AuthLevel: "function"},
		{Name: "http-restore", Trigger: HTTP, Methods: []string{"post"}, Route: "remediations/{runId}/restore", AuthLevel: "function"},
		// Four eyes: approve and reject are their own functions, so the keys that decide are
		// not the keys that start runs.
		{Name: "http-approve", Trigger: HTTP, Methods: []string{"post"}, Route: "remediations/{runId}/approve", AuthLevel: "function"},
		{Name: "http-reject", Trigger: HTTP, Methods: []string{"post"}, Route: "remediations/{runId}/reject", AuthLevel: "function"},
		// Stopping a watch is its own function, so its keys can be few.
		{Name: "http-watch-stop", Trigger: HTTP, Methods: []string{"post"}, Route: "remediations/{runId}/watch/stop", AuthLevel: "function"},
		{Name: "http-list-steps", Trigger: HTTP, Methods: []string{"get"}, Route: "steps", AuthLevel: "function"},
		// Unknown steps: literal routes (steps/reset-password...) win over this one, so it
		// only sees names that are not steps and answers 400 as the contract says.
		{Name: "http-steps", Trigger: HTTP, Methods: []string{"post"}, Route: "steps/{step}", AuthLevel: "function"},
		{Name: "http-sweeps", Trigger: HTTP, Methods: []string{"get"}, Route: "sweeps", AuthLevel: "function"},
		// The preflight is its own function, so it has its own keys (contract section 2).
		{Name: "http-preflight", Trigger: HTTP, Methods: []string{"get"}, Route: "preflight", AuthLevel: "function"},
		// The playbook's triage of an incident's accounts: read-only, its own keys.
		{Name: "http-triage", Trigger: HTTP, Methods: []string{"post"}, Route: "triage/sentinel", AuthLevel: "function"},
		{Name: "http-health", Trigger: HTTP, Methods: []string{"get"}, Route: "health", AuthLevel: "anonymous"},
		{Name: "http-openapi", Trigger: HTTP, Methods: []string{"get"}, Route: "openapi.json", AuthLevel: "anonymous"},
		{Name: "queue-remediations", Trigger: Queue, Queue: RemediationsQueue},
		{Name: "queue-watch", Trigger: Queue, Queue: WatchQueue},
		{Name: "timer-sweep", Trigger: Timer, Schedule: "%SWEEP_SCHEDULE%"},
		{Name: RecoverTimer, Trigger: Timer, Schedule: RecoverSchedule},
	}
	// Each step is its own HTTP function (so each can have its own function keys) and its
	// own queue function.
	for _, s := range catalog.All {
		fns = append(fns,
			Function{Name: "http-step-" + string(s), Trigger: HTTP, Methods: []string{"post"}, Route: "steps/" + string(s), AuthLevel: "function", Step: s},
			Function{Name: "queue-step-" + string(s), Trigger: Queue, Queue: StepQueue(s), Step: s},
		)
	}
	return fns
}

// Lookup returns the function named name.
func Lookup(name string) (Function, bool) {
	for _, f := range Registry() {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Queues lists every queue a trigger binding names.
func Queues() []string {
	var qs []string
	for _, f := range Registry() {
		if f.Trigger == Queue {
			qs = append(qs, f.Queue)
		}
	}
	return qs
}

type binding struct {
	Type       string   `json:"type"`
	Direction  string   `json:"direction"`
	Name       string   `json:"name"`
	AuthLevel  string   `json:"authLevel,omitempty"`
	Methods    []string `json:"methods,omitempty"`
	Route      string   `json:"route,omitempty"`
	QueueName  string   `json:"queueName,omitempty"`
	Connection string   `json:"connection,omitempty"`
	Schedule   string   `json:"schedule,omitempty"`
}

// FunctionJSON renders the function.json of f.
func (f Function) FunctionJSON() ([]byte, error) {
	var b []binding
	switch f.Trigger {
	case HTTP:
		// Only httpTrigger in and http out: the host forwards the request as is
		// (enableForwardingHttpRequest).
		b = []binding{
			{Type: "httpTrigger", Direction: "in", Name: RequestBinding, AuthLevel: f.AuthLevel, Methods: f.Methods, Route: f.Route},
			{Type: "http", Direction: "out", Name: "res"},
		}
	case Queue:
		b = []binding{{Type: "queueTrigger", Direction: "in", Name: MessageBinding, QueueName: f.Queue, Connection: "AzureWebJobsStorage"}}
	case Timer:
		b = []binding{{Type: "timerTrigger", Direction: "in", Name: TimerBinding, Schedule: f.Schedule}}
	default:
		return nil, fmt.Errorf("functions: %s has unknown trigger %q", f.Name, f.Trigger)
	}
	out, err := json.MarshalIndent(map[string]any{"bindings": b}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
