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

import "log/slog"

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
