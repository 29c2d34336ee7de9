package triage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tourniquet/tourniquet/internal/ident"
)

// FuzzSentinel feeds arbitrary bodies to the triage: it never panics, every account it
// answers remediate names a valid object id or UPN, and an account whose user is empty is
// skipped.
func FuzzSentinel(f *testing.F) {
	for _, name := range []string{"mdo-phishing.json", "password-spray.json", "anomalous-token.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		`{"properties":{"labels":[{"labelName":"tourniquet:remediate:a@b.example"}]}}`,
		`{"properties":{"alerts":[{"properties":{"productName":"Microsoft Entra ID Protection","alertDisplayName":"Leaked credentials","compromisedEntity":"a@b.example","entities":"[{\"Type\":\"account\",\"Name\":\"a\",\"UPNSuffix\":\"b.example\"}]"}}]}}`,
		`{"properties":{"relatedEntities":[{"Type":"account","Name":"x'y","UPNSuffix":"b.example"}]}}`,
		`{}`, `[]`, `null`, `{"properties":{"alerts":[1,"x",null]}}`,
	} {
		f.Add([]byte(seed))
	}
	table, _ := NewTable([]string{"*|Contoso rule"})
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Sentinel(body, table)
		if err != nil {
			return
		}
		for _, a := range res.Accounts {
			switch a.Decision {
			case Remediate, DryRun:
				if !ident.ValidID(a.User) && !ident.ValidUPN(a.User) {
					t.Fatalf("%s for the invalid user %q", a.Decision, a.User)
				}
			case Skip:
				if a.User != "" && !ident.ValidID(a.User) && !ident.ValidUPN(a.User) {
					t.Fatalf("skip names the invalid user %q", a.User)
				}
			default:
				t.Fatalf("decision %q", a.Decision)
			}
			if a.Why == "" {
				t.Fatal("a decision without a why")
			}
		}
	})
}
