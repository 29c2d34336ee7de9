package catalog

import (
	"slices"
	"testing"
)

func TestDefaultIsTheContractsSix(t *testing.T) {
	want := []Name{ResetPassword, RevokeSessions, RemoveForwarding, RemoveInboxRules, RemoveAdminRoles, UnblockSender}
	if !slices.Equal(Default, want) {
		t.Errorf("Default = %v, want %v", Default, want)
	}
	if len(All) != 13 {
		t.Errorf("the catalog has %d steps, the contract thirteen", len(All))
	}
}

func TestDependsOn(t *testing.T) {
	for _, tc := range []struct {
		step Name
		set  []Name
		want []Name
	}{
		{RevokeSessions, Default, []Name{ResetPassword}},
		{RevokeSessions, []Name{BlockSignIn, RevokeSessions}, []Name{BlockSignIn}},
		{RevokeSessions, All, []Name{ResetPassword, BlockSignIn}},
		{RevokeSessions, []Name{RevokeSessions}, nil},
		{RemoveMFAMethods, All, nil},
		{Investigate, All, nil},
		// unblock-sender waits for everything that secures the account, never for investigate.
		{UnblockSender, []Name{Investigate, RemoveForwarding, UnblockSender}, []Name{RemoveForwarding}},
		{UnblockSender, []Name{UnblockSender}, nil},
	} {
		if got := DependsOn(tc.step, tc.set); !slices.Equal(got, tc.want) {
			t.Errorf("DependsOn(%s, %v) = %v, want %v", tc.step, tc.set, got, tc.want)
		}
	}
	if got := len(DependsOn(UnblockSender, All)); got != len(All)-2 {
		t.Errorf("unblock-sender waits for %d steps of the whole catalog, want %d (all but itself and investigate)", got, len(All)-2)
	}
}

func TestEveryStepIsDescribedAndOnlyWaitsForEarlierSteps(t *testing.T) {
	for i, s := range Steps {
		if s.Description == "" || s.Impact == "" {
			t.Errorf("%s: description %q, impact %q", s.Name, s.Description, s.Impact)
		}
		// Run-document order is a topological order: a step appears after what it waits for.
		for _, d := range s.Dependencies() {
			if slices.Index(All, d) > i {
				t.Errorf("%s waits for %s, which the catalog lists after it", s.Name, d)
			}
		}
		if n, ok := Parse(string(s.Name)); !ok || n != s.Name {
			t.Errorf("Parse(%q) = %q, %v", s.Name, n, ok)
		}
	}
	if _, ok := Parse("reset-passwords"); ok {
		t.Error("Parse accepted an unknown step")
	}
	if Investigate.Awaited() || !RemoveForwarding.Awaited() {
		t.Error("only investigate is awaited by no step")
	}
}

func TestEveryStepHasATitleForPeople(t *testing.T) {
	for _, s := range Steps {
		if s.Title == "" {
			t.Errorf("%s has no title (the report page shows it)", s.Name)
		}
	}
}
