package runs

// Findings is what the investigate step read about the account (contract section 1.1.1):
// a timeline of events oldest first, a summary, the sources that could not be read, and
// the signals that stand out, each said in words.
type Findings struct {
	// From and To bound the window looked at (RFC 3339 UTC).
	From        string          `json:"from"`
	To          string          `json:"to"`
	Timeline    []TimelineEntry `json:"timeline"`
	Summary     FindingsSummary `json:"summary"`
	Unavailable []Unavailable   `json:"unavailable"`
	// Signals are the rules that fired, one sentence each ("sign-in from a country not
	// seen before: RU (198.51.100.7)"); the entries they concern carry them too.
	Signals []string `json:"signals"`
	// Notes say what the findings leave out (a timeline cut to its cap, a source that
	// answered only part of the window).
	Notes []string `json:"notes,omitempty"`
}

// TimelineEntry is one event: a sign-in, a directory audit record, a mailbox change or
// (summarised) mail sent. Time is RFC 3339 UTC; IP has no port.
type TimelineEntry struct {
	Time     string   `json:"time"`
	Source   string   `json:"source"` // "sign-in" | "directory" | "mailbox" | "mail"
	What     string   `json:"what"`
	IP       string   `json:"ip"`
	Location string   `json:"location"`
	Detail   string   `json:"detail"`
	Signals  []string `json:"signals,omitempty"`
}

// The timeline's sources.
const (
	SourceSignIn    = "sign-in"
	SourceDirectory = "directory"
	SourceMailbox   = "mailbox"
	SourceMail      = "mail"
)

// FindingsSummary counts what the timeline holds.
type FindingsSummary struct {
	SignIns            int      `json:"signIns"`
	FailedSignIns      int      `json:"failedSignIns"`
	Countries          []string `json:"countries"`
	IPs                []string `json:"ips"`
	MailSent           int      `json:"mailSent"`
	ExternalRecipients int      `json:"externalRecipients"`
	ExternalDomains    []string `json:"externalDomains"`
}

// Unavailable names a source that could not be read and the service's reason.
type Unavailable struct {
	Source string `json:"source"`
	Reason string `json:"reason"`
}
