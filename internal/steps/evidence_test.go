package steps

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// Each mailbox step hands its evidence (what it read and is about to change) to Record
// before it acts, and does not act when the evidence cannot be recorded.
func TestEvidenceIsRecordedBeforeTheStepActs(t *testing.T) {
	const userID = "11111111-1111-4111-8111-111111111111"
	target := Target{ID: userID, UPN: "adele@contoso.example"}
	newMailbox := func() *oneMailbox {
		return &oneMailbox{
			mailbox: exchange.Mailbox{Identity: "adele", ExternalDirectoryObjectID: userID, ForwardingSmtpAddress: "smtp:x@evil.example"},
			rules:   []exchange.InboxRule{{Identity: `adele@contoso.example\1`, Name: "fwd", Enabled: true, ForwardTo: []string{"x@evil.example"}}},
		}
	}
	for _, tt := range []struct {
		step       Name
		wantTarget string
	}{
		{RemoveForwarding, "adele@contoso.example"},
		{RemoveInboxRules, `adele@contoso.example\1 ("fwd")`},
	} {
		t.Run(string(tt.step)+" records first", func(t *testing.T) {
			mb := newMailbox()
			var recorded []runs.Change
			writesWhenRecorded := -1
			in := Input{Target: target, Record: func(_ context.Context, planned []runs.Change) error {
				recorded, writesWhenRecorded = planned, len(mb.changed)
				return nil
			}}
			out := (&Runner{Directory: noDirectory{}, Mailboxes: mb}).Run(context.Background(), tt.step, in)
			if out.Status != runs.StepSucceeded || len(mb.changed) != 1 {
				t.Fatalf("status %s, writes %v", out.Status, mb.changed)
			}
			if writesWhenRecorded != 0 || len(recorded) != 1 || recorded[0].Target != tt.wantTarget || recorded[0].Before == nil {
				t.Fatalf("evidence %+v recorded after %d writes; want it whole before any", recorded, writesWhenRecorded)
			}
		})
		t.Run(string(tt.step)+" does not act unrecorded", func(t *testing.T) {
			mb := newMailbox()
			in := Input{Target: target, Record: func(context.Context, []runs.Change) error { return errors.New("store unreachable") }}
			out := (&Runner{Directory: noDirectory{}, Mailboxes: mb}).Run(context.Background(), tt.step, in)
			if out.Status != runs.StepFailed || !out.Transient || out.Error == nil || out.Error.Code != "evidence_not_recorded" {
				t.Fatalf("outcome %+v; want a transient evidence_not_recorded failure", out)
			}
			if len(mb.changed) != 0 {
				t.Fatalf("acted without a record: %v", mb.changed)
			}
		})
	}
	t.Run("dry run records nothing", func(t *testing.T) {
		mb := newMailbox()
		in := Input{Target: target, DryRun: true, Record: func(context.Context, []runs.Change) error {
			t.Error("a dry run recorded evidence as if it would act")
			return nil
		}}
		if out := (&Runner{Directory: noDirectory{}, Mailboxes: mb}).Run(context.Background(), RemoveForwarding, in); out.Status != runs.StepPlanned || len(mb.changed) != 0 {
			t.Fatalf("dry run: %s, writes %v", out.Status, mb.changed)
		}
	})
}

func TestGuestHomeOrganisation(t *testing.T) {
	for upn, want := range map[string]string{
		"megan.b_fabrikam.example#EXT#@contoso.onmicrosoft.com":      "fabrikam.example",
		"first_last_sub.fabrikam.co.uk#ext#@contoso.onmicrosoft.com": "sub.fabrikam.co.uk", // '_' in the local part
		"adele@contoso.example":                                      "",
		"noseparator#EXT#@contoso.onmicrosoft.com":                   "",
	} {
		if got := guestHome(upn); got != want {
			t.Errorf("guestHome(%q) = %q, want %q", upn, got, want)
		}
		if isGuest(upn) != strings.Contains(strings.ToUpper(upn), "#EXT#@") {
			t.Errorf("isGuest(%q) = %v", upn, isGuest(upn))
		}
	}
}
