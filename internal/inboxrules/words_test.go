package inboxrules

import (
	"reflect"
	"testing"
)

func TestMatchedKeywords(t *testing.T) {
	tests := []struct {
		name       string
		conditions [][]string
		want       []string
	}{
		{name: "nil lists", conditions: [][]string{nil, nil}},
		{name: "case-insensitive whole words", conditions: [][]string{{"URGENT Invoice", "Bank details"}}, want: []string{"invoice", "bank"}},
		{name: "IT only in capitals", conditions: [][]string{{"it", "It", "iT", "IT"}}, want: []string{"IT"}},
		{name: "IT inside a word does not count", conditions: [][]string{{"ITEMS", "EDIT"}}},
		{name: "no substring matches", conditions: [][]string{{"wireless", "passwordless", "spammy", "accountant", "banker"}}},
		{name: "plurals", conditions: [][]string{{"payments", "credentials", "passwords", "viruses"}}, want: []string{"payment", "credential", "password", "virus"}},
		{name: "W-2 written three ways", conditions: [][]string{{"W-2"}, {"w 2"}, {"W2 forms"}}, want: []string{"W-2", "W2"}},
		{name: "phrase across punctuation", conditions: [][]string{{"help-desk ticket", "sign in", "Sign-In alert"}}, want: []string{"help desk", "sign-in"}},
		{name: "order of first appearance across lists, no repeats",
			conditions: [][]string{{"password"}, {"invoice", "Password"}, nil, {"ach@bank.example"}}, want: []string{"password", "invoice", "ACH", "bank"}},
		{name: "non-Latin text", conditions: [][]string{{"Счёт invoice", "Überweisung"}}, want: []string{"invoice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := matchedKeywords(tt.conditions...)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("matchedKeywords = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestContractWordsAreAllInTheList(t *testing.T) {
	// CONTRACT.md section 4 names these; each must match on its own.
	for _, w := range []string{"invoice", "payment", "wire", "bank", "remittance", "password", "hacked", "phish", "spam", "security", "IT", "helpdesk"} {
		if got := matchedKeywords([]string{w}); !reflect.DeepEqual(got, []string{w}) {
			t.Errorf("%q matches %q", w, got)
		}
	}
}
