package runs

import "encoding/json"

// PersistenceSignal starts a findings signal that names a way in the compromised account left
// elsewhere in the tenant, which no containment step undoes (package investigation writes
// them; the report page lists them among what a person must still do).
const PersistenceSignal = "possible persistence: "

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
	// MailItemsAccessed summarises the unified audit log's MailItemsAccessed records (what
	// was read, Audit Premium or a licence that records it) per session, not per item.
	MailItemsAccessed []MailAccess `json:"mailItemsAccessed,omitempty"`
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
	// SessionID and TokenID tie the event to an Entra ID session and token: a sign-in's
	// sessionId and uniqueTokenIdentifier (Graph beta), a unified audit log record's
	// AppAccessContext AADSessionId and UniqueTokenId. Empty where the source has none.
	SessionID string `json:"sessionId,omitempty"`
	TokenID   string `json:"tokenId,omitempty"`
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
	// NonInteractiveSignIns counts the sign-ins among SignIns a client made with a token
	// (read where Graph's beta endpoint answers).
	NonInteractiveSignIns int `json:"nonInteractiveSignIns,omitempty"`
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
	// SessionIDs are the Entra ID sessions the investigation attributes to the attacker:
	// those of the events that start the clock, and of the new sign-ins from an indicator
	// address. A sign-in in one of them from another address (a token replayed) adds that
	// address to IPs.
	SessionIDs []string `json:"sessionIds,omitempty"`
}

// MailAccess is the mail read in one session: MailItemsAccessed records with the same
// AADSessionId (or, without one, the same client address).
type MailAccess struct {
	SessionID string   `json:"sessionId,omitempty"`
	IPs       []string `json:"ips"`
	First     string   `json:"first"` // RFC 3339 UTC
	Last      string   `json:"last"`
	Records   int      `json:"records"`
	// Items counts the messages bound (opened one by one); Syncs the folder syncs (a
	// client downloading whole folders: every item in them is to be taken as read).
	Items   int      `json:"items"`
	Syncs   int      `json:"syncs"`
	Folders []string `json:"folders,omitempty"`
	// Attacker: the session is one of findings.indicators.sessionIds, or its address one
	// of findings.indicators.ips.
	Attacker bool `json:"attacker"`
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
