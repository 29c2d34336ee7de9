package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/bench"
	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// startSlowStack is startStack with a simulator that takes latency per request, so a
// crash can land while steps are in flight, and victims compromised users.
func startSlowStack(t *testing.T, latency time.Duration, victims int) (*stack, []bench.Victim) {
	t.Helper()
	storage, err := azurite.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = storage.Stop() })
	return newVictimStack(t, storage, latency, victims)
}

// startSlowStackOn starts one victim's stack on storage with extra handler settings.
func startSlowStackOn(t *testing.T, storage *azurite.Instance, env ...string) (*stack, []bench.Victim) {
	t.Helper()
	return newVictimStack(t, storage, 0, 1, env...)
}

func newVictimStack(t *testing.T, storage *azurite.Instance, latency time.Duration, victims int, env ...string) (*stack, []bench.Victim) {
	t.Helper()
	sim := tenantsim.New(tenantsim.Options{Latency: latency, PageSize: 100})
	if _, err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	s := &stack{t: t, storage: storage, sim: sim, demo: tenantsim.SeedDemo(sim), output: &bytes.Buffer{}}
	vs := bench.SeedVictims(sim, victims)
	s.host = s.startHost(env...)
	return s, vs
}

func (s *stack) enqueueRemediations(victims []bench.Victim) {
	s.t.Helper()
	q, err := azqueue.NewQueueClientFromConnectionString(s.storage.ConnectionString, functions.RemediationsQueue, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, v := range victims {
		msg, _ := json.Marshal(map[string]string{"user": v.UPN, "reason": "resilience"})
		if _, err := q.EnqueueMessage(context.Background(), string(msg), nil); err != nil {
			s.t.Fatal(err)
		}
	}
}

// runsOf reads a user's runs through the API.
func (s *stack) runsOf(upn string) []runs.Run {
	s.t.Helper()
	var list []runs.Run
	call(s.t, s.host, "GET", "/api/remediations?user="+upn, nil).json(s.t, &list)
	return list
}

// TestCrashMidRunThenRestartCompletesEveryRunOnce kills the handler while steps are in
// flight. A step cut off by the crash is still "running" under its lease when its message
// comes back; the redelivery of the same message (higher DequeueCount) takes over, while a
// duplicate message would still be ignored.
func TestCrashMidRunThenRestartCompletesEveryRunOnce(t *testing.T) {
	t.Parallel()
	s, victims := startSlowStack(t, 100*time.Millisecond, 6)
	s.enqueueRemediations(victims)

	// Crash once some passwords are reset and the other steps are in flight.
	deadline := time.Now().Add(60 * time.Second)
	for resets := 0; resets < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("no password reset within a minute\n%s", s.output.String())
		}
		time.Sleep(20 * time.Millisecond)
		resets = 0
		for _, v := range victims {
			resets += len(s.sim.PasswordResets(v.ID))
		}
	}
	if err := s.host.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := s.host.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()

	for _, v := range victims {
		list := s.runsOf(v.UPN)
		if len(list) != 1 {
			t.Fatalf("%s has %d runs after the crash, want 1", v.UPN, len(list))
		}
		run := list[0]
		if run.Status != runs.Succeeded {
			t.Errorf("%s: run %s ended %s after the crash: %+v", v.UPN, run.RunID, run.Status, run.Steps)
		}
		for _, st := range run.Steps {
			// A step cut off by the crash acts again on redelivery (attempts 2); a step that
			// had finished is never run again.
			if st.Attempts < 1 || st.Attempts > 2 {
				t.Errorf("%s: step %s has %d attempts", v.UPN, st.Name, st.Attempts)
			}
		}
		if n := len(s.sim.PasswordResets(v.ID)); n < 1 || n > 2 {
			t.Errorf("%s: password reset %d times", v.UPN, n)
		}
	}
	if dup := bench.Duplicates(bench.AppliedWrites(s.sim.Requests())); len(dup) > 0 {
		// A reset (or revoke) cut off mid-request may be repeated by design (the contract:
		// a redelivery after a failed attempt acts again); anything else must not be.
		for _, d := range dup {
			if !strings.HasPrefix(d, "PATCH /v1.0/users/") && !strings.HasSuffix(d, "/revokeSignInSessions") {
				t.Errorf("applied twice after the crash: %s", d)
			}
		}
	}
}
