package logevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

// logLine writes one record with NewJSONHandler and answers the line.
func logLine(t *testing.T, msg string, args ...any) string {
	t.Helper()
	var buf bytes.Buffer
	slog.New(NewJSONHandler(&buf, nil)).Error(msg, args...)
	line := strings.TrimSuffix(buf.String(), "\n")
	if strings.Contains(line, "\n") {
		t.Fatalf("more than one line: %q", line)
	}
	return line
}

// Whatever text reaches a line (quotes, control characters, HTML characters, invalid UTF-8,
// a long list), the line stays under MaxLine, parses whole, and keeps its event; short
// values pass untouched.
func TestLinesStayWholeAndParse(t *testing.T) {
	hostile := strings.Repeat("\"\x01<\u2028\xff\\é😀", 20000)
	hits := make([]string, 1000)
	for i := range hits {
		hits[i] = fmt.Sprintf("new inbox rule %d: forwards to %s", i, hostile[:200])
	}
	line := logLine(t, "eviction watch: the attacker returned; re-containing", Attr(AttackerReturned),
		"runId", "20261207t165156-4014caca378a6775", "userId", hostile, "check", 2, "hits", hits,
		"err", errors.New(hostile), "why", hostile)
	if len(line) > MaxLine {
		t.Fatalf("line of %d bytes, over MaxLine %d", len(line), MaxLine)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("the line does not parse: %v", err)
	}
	if m[Key] != string(AttackerReturned) || m["runId"] != "20261207t165156-4014caca378a6775" || m["check"] != float64(2) {
		t.Fatalf("short values changed: %v %v %v", m[Key], m["runId"], m["check"])
	}
	for _, k := range []string{"userId", "hits", "err", "why"} {
		s, ok := m[k].(string)
		if !ok || !strings.HasSuffix(s, cutMark) || !utf8.ValidString(strings.TrimSuffix(s, cutMark)) {
			t.Errorf("%s was not cut to a valid string ending %q: %.80q", k, cutMark, m[k])
		}
	}
}

// A cut value takes at most its bound once escaped, whatever it holds, and never splits a
// character.
func TestCutHoldsItsBoundEscaped(t *testing.T) {
	for _, unit := range []string{"a", "\"", "\x01", "<", "é", "😀", "\xff", "\u2028", "\\n"} {
		for _, n := range []int{1, 500, 1023, 1024, 1025, 5000} {
			s := strings.Repeat(unit, n)
			line := logLine(t, "m", "v", s)
			start := strings.Index(line, `"v":"`) + len(`"v":"`)
			raw := line[start : len(line)-2] // the escaped value, without its closing quote and brace
			if len(raw) > maxString {
				t.Errorf("%q x%d: %d escaped bytes, over %d", unit, n, len(raw), maxString)
			}
			var m map[string]string
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%q x%d: %v", unit, n, err)
			}
			cutShort := strings.HasSuffix(m["v"], cutMark)
			if got, _ := json.Marshal(s); !cutShort && m["v"] != s && unit != "\xff" {
				t.Errorf("%q x%d (%d escaped) changed without being cut", unit, n, len(got))
			}
			if cutShort && escapedLen(s) <= maxString {
				t.Errorf("%q x%d was cut though it fits", unit, n)
			}
		}
	}
}
