package runs

import (
	"strings"
	"testing"
)

// FuzzValidRunID checks that an accepted run id can sit inside the OData filter
// PartitionKey eq '<id>' and a URL path unchanged: lower-case letters, digits and dashes
// only, 1 to 63 characters, starting with a letter or digit.
func FuzzValidRunID(f *testing.F) {
	for _, seed := range []string{
		"20260101t100000-00000000000000ab", "", "-x", "x' or PartitionKey ne '", "A", strings.Repeat("a", 64), "a/b", "a\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidRunID(s) {
			return
		}
		if len(s) == 0 || len(s) > 63 || s[0] == '-' {
			t.Fatalf("accepted %q: bad length or leading dash", s)
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				t.Fatalf("accepted %q with %q", s, r)
			}
		}
	})
}
