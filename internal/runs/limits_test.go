package runs

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestUTF16UnitsCountsAsTheServiceStores(t *testing.T) {
	for _, s := range []string{"", "ascii", "Überweisung", "付款", "💸", "a💸ü付\x00", "\xff\xfe"} {
		want := len(utf16.Encode([]rune(s)))
		if got := utf16Units(s); got != want {
			t.Errorf("utf16Units(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestCheckKey(t *testing.T) {
	for _, k := range []string{"", "u:" + hashKey("x"), "run", "step-remove-inbox-rules~Changes~0011223344556677~0003", "o'brien", strings.Repeat("k", 512)} {
		if err := CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v, want accepted", k, err)
		}
	}
	for _, k := range []string{"a/b", `a\b`, "a#EXT#@x", "a?b", "a\x00", "a\x1f", "a\x7f", "a\u0080", "a\u009f", strings.Repeat("k", 513), strings.Repeat("💸", 257)} {
		if err := CheckKey(k); !errors.Is(err, ErrTooLarge) {
			t.Errorf("CheckKey(%q) = %v, want refused", k, err)
		}
	}
}

// Whatever the size and script of the texts, layout yields entities the service accepts
// (checked inside layout) and the texts read back whole.
func TestLayoutFitsAndReadsBackWhole(t *testing.T) {
	pieces := []string{"a", "é", "付", "💸", "\n", `"`, "\\"}
	for _, size := range []int{0, 1, 31999, 32000, 32001, 100000, 600000, 1100000, 3000000} {
		for _, piece := range pieces {
			value := strings.Repeat(piece, size/len(piece)+1)
			d := &draft{props: map[string]any{"PartitionKey": "r-1", "RowKey": "step-x", "Status": "succeeded"}}
			d.setText("Changes", value)
			d.setText("Message", "short")
			lo, err := d.layout(nil)
			if err != nil {
				t.Fatalf("size %d of %q: %v", size, piece, err)
			}
			// Round trip through JSON, as the service returns entities.
			byKey := map[string]entity{}
			for _, p := range lo.parts {
				byKey[p["RowKey"].(string)] = roundTrip(t, p)
			}
			main := roundTrip(t, lo.main)
			got, err := main.text("Changes", func(rk string) (entity, bool) { e, ok := byKey[rk]; return e, ok })
			if err != nil || got != value {
				t.Fatalf("size %d of %q: read back %d bytes (%v), want %d", size, piece, len(got), err, len(value))
			}
			if msg, _ := main.text("Message", nil); msg != "short" {
				t.Fatalf("the small text was lost: %q", msg)
			}
		}
	}
}

func roundTrip(t *testing.T, m map[string]any) entity {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var e entity
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEscapeNonASCIIKeepsTheJSONMeaning(t *testing.T) {
	in := map[string]any{"T0": "Überweisung 付款 💸 \u2028 <&> \x01", "k": "plain"}
	data, _ := json.Marshal(in)
	escaped, changed := escapeNonASCII(data)
	if !changed {
		t.Fatal("nothing escaped")
	}
	for _, b := range escaped {
		if b >= 0x80 {
			t.Fatalf("non-ASCII byte left in %s", escaped)
		}
	}
	var out map[string]any
	if err := json.Unmarshal(escaped, &out); err != nil || out["T0"] != in["T0"] {
		t.Fatalf("escaped JSON reads %q (%v), want %q", out["T0"], err, in["T0"])
	}
	if _, changed := escapeNonASCII([]byte(`{"a":"b"}`)); changed {
		t.Fatal("ASCII body rewritten")
	}
}
