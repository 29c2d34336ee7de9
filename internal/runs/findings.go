package runs

import "encoding/json"

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
	// Indicators are what the investigation attributes to the attacker; the eviction watch
	// (contract 1.3) looks for them.
	Indicators Indicators `json:"indicators"`
	// Related are other users the same indicators point at (read-only: nobody is
	// remediated for it).
	Related []Related `json:"related"`
	// Truncated names the sources whose results were cut at a service limit (the timeline
	// then holds fewer events than happened).
	Truncated []string `json:"truncated"`
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

// Indicators are the attacker's traces the investigation found.
type Indicators struct {
	// IPs are the addresses (no port) of the events that start the investigation's clock:
	// mail sent away or access given (forwarding, an inbox rule that forwards, redirects or
	// deletes, a mailbox permission), consent to an application, an MFA method registered.
	IPs []string `json:"ips"`
}

// Related is another user the indicators point at, and why, one sentence per reason.
type Related struct {
	User string   `json:"user"`
	Why  []string `json:"why"`
}

// Normalize gives the lists the contract fixes their empty value ([] rather than null),
// for findings recorded before a list existed.
func (f *Findings) Normalize() {
	if f == nil {
		return
	}
	if f.Timeline == nil {
		f.Timeline = []TimelineEntry{}
	}
	if f.Unavailable == nil {
		f.Unavailable = []Unavailable{}
	}
	if f.Signals == nil {
		f.Signals = []string{}
	}
	if f.Indicators.IPs == nil {
		f.Indicators.IPs = []string{}
	}
	if f.Related == nil {
		f.Related = []Related{}
	}
	for i := range f.Related {
		if f.Related[i].Why == nil {
			f.Related[i].Why = []string{}
		}
	}
	if f.Truncated == nil {
		f.Truncated = []string{}
	}
	for _, l := range []*[]string{&f.Summary.Countries, &f.Summary.IPs, &f.Summary.ExternalDomains} {
		if *l == nil {
			*l = []string{}
		}
	}
}

// UnmarshalJSON reads findings and normalises them, so findings recorded before a list
// existed still answer [] for it.
func (f *Findings) UnmarshalJSON(data []byte) error {
	type plain Findings
	if err := json.Unmarshal(data, (*plain)(f)); err != nil {
		return err
	}
	f.Normalize()
	return nil
}
