// Package logevent names the events of the handler's log lines that the log alert rules of
// infra/modules/alerts.bicep fire on.
//
// The handler logs JSON lines (log/slog) to stdout; the Functions host forwards each line, as
// it is, as the message of a trace in Application Insights. Caller-supplied text (a run's
// reason, who asked, an inbox rule's name, an attacker's rule) reaches those lines as
// attribute values, so an alert that matched words anywhere in the line could be fired by a
// reason that contains them, and missed when the wording changed. An alert matches instead
// the line's top-level "event" attribute, by equality: only the code writes it, with one of
// the constants below, and the JSON encoder escapes every value, so no caller text can make
// a second top-level "event" key or change this one.
package logevent

import (
	"encoding/json"
	"io"
	"log/slog"
	"unicode/utf8"
)

// Key is the attribute of a log line that names its event.
const Key = "event"

// Event names what a log line reports, for machines; the line's message says it for people.
type Event string

// The events logged with Attr. Keep the values stable: the alert rules match them exactly.
const (
	// AttackerReturned: an eviction watch saw a sign-in from an attacker address,
	// forwarding set again or a new suspicious inbox rule, and starts a re-containing run.
	AttackerReturned Event = "attacker_returned"
	// RunFailed: a run ended failed (some step could not be carried out).
	RunFailed Event = "run_failed"
	// RunFinished: a run ended in a status other than failed.
	RunFinished Event = "run_finished"
	// RecordTampered: a run record, or evidence of a step, was changed outside the handler;
	// nothing of it is acted on.
	RecordTampered Event = "record_tampered"
	// LockoutGuardHeld: a run would reset, block or strip the tenant's last usable Global
	// Administrator, so it waits for approval whatever APPROVAL_MODE says.
	LockoutGuardHeld Event = "lockout_guard_held"
)

// Alerted lists the events infra/modules/alerts.bicep has a log alert rule for, one rule
// each (infra's test holds the two together).
var Alerted = []Event{AttackerReturned, RunFailed, RecordTampered, LockoutGuardHeld}

// Attr is the attribute that marks a log line as event e.
func Attr(e Event) slog.Attr { return slog.String(Key, string(e)) }

// MaxLine is the longest line the alerted lines may take: well under the 32,768 characters
// Application Insights is reported to keep of a trace's message (a third-party report, not
// a Microsoft page). A line cut there no longer parses, and an alert rule would miss its
// event; attacker text reaches the alerted lines (the inbox rules of a returning attacker,
// the values of a tampered record), so NewJSONHandler bounds every value instead of
// trusting it. The remediation tests hold the alerted lines to MaxLine.
const MaxLine = 24 * 1024

const (
	// maxString bounds a string or error value as written (escaped); maxValue any other
	// value (a list of hits, of steps) as JSON. An alerted line has at most six attributes.
	maxString = 1024
	maxValue  = 4096
)

// NewJSONHandler is the handler's log handler: slog's JSON handler (one object per line,
// every value escaped), with every value cut to a bound (see maxString, maxValue), so a line
// of a few attributes stays under MaxLine whatever text reaches it. A value cut short ends
// with "…(cut)"; the run record keeps the whole of it. opts may be nil.
func NewJSONHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	var o slog.HandlerOptions
	if opts != nil {
		o = *opts
	}
	replace := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if replace != nil {
			a = replace(groups, a)
		}
		return bound(a)
	}
	return slog.NewJSONHandler(w, &o)
}

// bound cuts a's value to maxString (a string or an error) or maxValue (anything else, as
// JSON) escaped bytes.
func bound(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s, ok := cut(a.Value.String(), maxString); ok {
			a.Value = slog.StringValue(s)
		}
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case error:
			if s, ok := cut(v.Error(), maxString); ok {
				a.Value = slog.StringValue(s)
			}
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return a
			}
			if s, ok := cut(string(b), maxValue); ok {
				a.Value = slog.StringValue(s)
			}
		}
	}
	return a
}

const cutMark = "…(cut)"

// cut answers s cut to at most max bytes once written as a JSON string (escapes counted),
// ending with cutMark, and whether it had to cut.
func cut(s string, max int) (string, bool) {
	if escapedLen(s) <= max {
		return s, false
	}
	budget := max - len(cutMark)
	n := 0
	for i, r := range s {
		w := escapedRuneLen(r)
		if n+w > budget {
			return s[:i] + cutMark, true
		}
		n += w
	}
	return s, false
}

func escapedLen(s string) int {
	n := 0
	for _, r := range s {
		n += escapedRuneLen(r)
	}
	return n
}

// escapedRuneLen is the most bytes r takes in a JSON string written by encoding/json or
// log/slog: \uXXXX for control characters, HTML characters, U+2028/9 and invalid UTF-8.
func escapedRuneLen(r rune) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
		return 6
	default:
		return utf8.RuneLen(r)
	}
}
