package investigation

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/inboxrules"
)

func TestNormalizeIP(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"203.0.113.5":               "203.0.113.5",
		"203.0.113.5:50412":         "203.0.113.5",
		"[2001:db8::5]:443":         "2001:db8::5",
		"2001:DB8:0:0::5":           "2001:db8::5",
		"[2001:db8::5]":             "2001:db8::5",
		"::ffff:198.51.100.7":       "198.51.100.7",
		" 198.51.100.7 ":            "198.51.100.7",
		"":                          "",
		"not an address":            "not an address",
		"2001:db8:bad::7":           "2001:db8:bad::7",
		"[fe80::1%eth0]:80":         "[fe80::1%eth0]:80", // zoned: kept as written
		"198.51.100.7:not-a-port:x": "198.51.100.7:not-a-port:x",
	} {
		if got := NormalizeIP(in); got != want {
			t.Errorf("NormalizeIP(%q) = %q, want %q", in, got, want)
		}
	}
}

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func home(at time.Time) graph.SignIn {
	return graph.SignIn{Time: at, App: "Outlook", IP: "203.0.113.10", Country: "US"}
}

func TestNewCountryAndIPAreFlaggedOnlyAfterTheBaseline(t *testing.T) {
	t.Parallel()
	s := Sources{From: t0.Add(-7 * 24 * time.Hour), To: t0,
		SignIns: []graph.SignIn{
			home(t0.Add(-5 * 24 * time.Hour)),
			home(t0.Add(-3 * time.Hour)),
			{Time: t0.Add(-2 * time.Hour), IP: "198.51.100.23", Country: "NG"},                  // new country
			{Time: t0.Add(-90 * time.Minute), IP: "203.0.113.99", Country: "US"},                // new IP, known country
			{Time: t0.Add(-80 * time.Minute), IP: "192.0.2.1", Country: "FR", ErrorCode: 50126}, // failed: not flagged
		},
		Mailbox: []exchange.AuditRecord{
			{Time: t0.Add(-time.Hour), Operation: "New-InboxRule", ClientIP: "198.51.100.23:1234", Parameters: map[string]string{"Name": "x"}},
			{Time: t0.Add(-50 * time.Minute), Operation: "Set-InboxRule", ClientIP: "203.0.113.10:1"},
		},
	}
	f := Build(s)
	flagged := map[string]bool{}
	for _, e := range f.Timeline {
		if len(e.Signals) > 0 {
			flagged[e.Source+" "+e.IP] = true
		}
	}
	want := map[string]bool{"sign-in 198.51.100.23": true, "sign-in 203.0.113.99": true, "mailbox 198.51.100.23": true}
	if fmt.Sprint(flagged) != fmt.Sprint(want) {
		t.Errorf("flagged %v, want %v\n%+v", flagged, want, f.Timeline)
	}
	if f.Summary.SignIns != 5 || f.Summary.FailedSignIns != 1 || strings.Join(f.Summary.Countries, ",") != "FR,NG,US" {
		t.Errorf("summary %+v", f.Summary)
	}
}

func TestWithoutBaselineNothingIsCalledNewAndANoteSaysWhy(t *testing.T) {
	t.Parallel()
	f := Build(Sources{From: t0.Add(-24 * time.Hour), To: t0, SignIns: []graph.SignIn{{Time: t0.Add(-time.Hour), IP: "198.51.100.23", Country: "NG"}}})
	if len(f.Signals) != 0 || len(f.Notes) != 1 || !strings.Contains(f.Notes[0], "no successful sign-in before") {
		t.Errorf("signals %q notes %q", f.Signals, f.Notes)
	}
}

func TestBurstOfExternalMail(t *testing.T) {
	t.Parallel()
	var rows []exchange.TracedMessage
	for i := 0; i < BurstThreshold; i++ {
		rows = append(rows, exchange.TracedMessage{Received: t0.Add(time.Duration(i) * time.Minute), RecipientAddress: fmt.Sprintf("a%d@partner%d.example", i, i%3), MessageTraceID: fmt.Sprint(i)})
	}
	// One message to two recipients (one internal) counts once.
	rows = append(rows,
		exchange.TracedMessage{Received: t0.Add(-48 * time.Hour), RecipientAddress: "boss@contoso.example", MessageTraceID: "m"},
		exchange.TracedMessage{Received: t0.Add(-48 * time.Hour), RecipientAddress: "Friend@Gmail.example", MessageTraceID: "m"})
	f := Build(Sources{From: t0.Add(-72 * time.Hour), To: t0.Add(time.Hour), Mail: rows, Accepted: inboxrules.Domains{"contoso.example"}})
	if f.Summary.MailSent != BurstThreshold+1 || f.Summary.ExternalRecipients != BurstThreshold+1 ||
		strings.Join(f.Summary.ExternalDomains, ",") != "gmail.example,partner0.example,partner1.example,partner2.example" {
		t.Errorf("summary %+v", f.Summary)
	}
	if len(f.Signals) != 1 || !strings.Contains(f.Signals[0], "burst of external mail: 20 messages") {
		t.Errorf("signals %q", f.Signals)
	}
	if len(f.Timeline) != 2 || f.Timeline[0].What != "1 message sent within the hour, 1 to external recipients" {
		t.Errorf("timeline %+v", f.Timeline)
	}
	// One fewer is no burst.
	f = Build(Sources{From: t0.Add(-72 * time.Hour), To: t0.Add(time.Hour), Mail: rows[1:BurstThreshold], Accepted: inboxrules.Domains{"contoso.example"}})
	if len(f.Signals) != 0 {
		t.Errorf("signals %q", f.Signals)
	}
}

func TestMFARegistrationAndConsentAreFlagged(t *testing.T) {
	t.Parallel()
	f := Build(Sources{From: t0.Add(-24 * time.Hour), To: t0, Directory: []graph.DirectoryAudit{
		{Time: t0.Add(-3 * time.Hour), Activity: "User registered security info", Result: "success", IP: "198.51.100.23"},
		{Time: t0.Add(-2 * time.Hour), Activity: "Consent to application", Result: "success"},
		{Time: t0.Add(-1 * time.Hour), Activity: "Update user", Result: "success"},
	}})
	if len(f.Signals) != 2 || !strings.HasPrefix(f.Signals[0], "User registered security info at") || !strings.HasSuffix(f.Signals[0], "from 198.51.100.23") {
		t.Errorf("signals %q", f.Signals)
	}
}

func TestTimelineIsCappedKeepingFlaggedEvents(t *testing.T) {
	t.Parallel()
	var ins []graph.SignIn
	ins = append(ins, home(t0.Add(-6*24*time.Hour)))
	for i := 0; i < MaxTimeline+100; i++ {
		ins = append(ins, home(t0.Add(-5*24*time.Hour+time.Duration(i)*time.Minute)))
	}
	ins = append(ins, graph.SignIn{Time: t0.Add(-time.Hour), IP: "198.51.100.23", Country: "NG"})
	f := Build(Sources{From: t0.Add(-7 * 24 * time.Hour), To: t0, SignIns: ins})
	if len(f.Timeline) != MaxTimeline || f.Summary.SignIns != len(ins) || len(f.Notes) != 1 {
		t.Fatalf("timeline %d, sign-ins %d, notes %q", len(f.Timeline), f.Summary.SignIns, f.Notes)
	}
	if last := f.Timeline[len(f.Timeline)-1]; last.IP != "198.51.100.23" || len(last.Signals) == 0 {
		t.Errorf("the flagged sign-in was dropped: %+v", last)
	}
	if f.Timeline[0].Time == ins[0].Time.Format(time.RFC3339) {
		t.Errorf("the oldest entry should have gone first")
	}
}

// A rule the user made to file mail, days before the attack, does not start the clock:
// otherwise the baseline would be empty and the attacker's sign-ins would go unflagged.
func TestAFilingRuleDoesNotHideTheAttack(t *testing.T) {
	t.Parallel()
	f := Build(Sources{From: t0.Add(-7 * 24 * time.Hour), To: t0,
		SignIns: []graph.SignIn{home(t0.Add(-6 * 24 * time.Hour)), home(t0.Add(-4 * 24 * time.Hour)), {Time: t0.Add(-2 * time.Hour), IP: "198.51.100.23", Country: "NG"}},
		Mailbox: []exchange.AuditRecord{
			{Time: t0.Add(-5 * 24 * time.Hour), Operation: "New-InboxRule", ClientIP: "203.0.113.10", Parameters: map[string]string{"Name": "Newsletters", "MoveToFolder": "News"}},
			{Time: t0.Add(-1 * time.Hour), Operation: "New-InboxRule", ClientIP: "198.51.100.23", Parameters: map[string]string{"Name": "x", "ForwardTo": "a@evil.example"}},
		}})
	if len(f.Signals) != 2 || len(f.Notes) != 0 {
		t.Errorf("signals %q notes %q", f.Signals, f.Notes)
	}
}

// The indicators are the addresses of the events that start the clock (mail sent away,
// access given, consent, a method registered); a filing rule or a sign-in is none of them.
func TestIndicatorsAreTheAddressesThatStartTheClock(t *testing.T) {
	t.Parallel()
	f := Build(Sources{From: t0.Add(-7 * 24 * time.Hour), To: t0,
		SignIns: []graph.SignIn{home(t0.Add(-6 * 24 * time.Hour)), {Time: t0.Add(-3 * time.Hour), IP: "192.0.2.99", Country: "NG"}},
		Directory: []graph.DirectoryAudit{
			{Time: t0.Add(-150 * time.Minute), Activity: "User registered security info", Result: "success", IP: "198.51.100.23"},
			{Time: t0.Add(-140 * time.Minute), Activity: "Update user", Result: "success", IP: "192.0.2.50"},
		},
		Mailbox: []exchange.AuditRecord{
			{Time: t0.Add(-2 * time.Hour), Operation: "New-InboxRule", ClientIP: "192.0.2.7:1", Parameters: map[string]string{"Name": "news", "MoveToFolder": "News"}},
			{Time: t0.Add(-1 * time.Hour), Operation: "Set-Mailbox", ClientIP: "[2001:db8:bad::7]:443", Parameters: map[string]string{"ForwardingSmtpAddress": "smtp:Drop@Evil.example"}},
			{Time: t0.Add(-50 * time.Minute), Operation: "New-InboxRule", ClientIP: "198.51.100.23:9", Parameters: map[string]string{"Name": "x", "RedirectTo": `"Boss" [SMTP:boss@contoso.example];x@evil2.example`}},
		}, Accepted: inboxrules.Domains{"contoso.example"}})
	if got := strings.Join(f.Indicators.IPs, ","); got != "198.51.100.23,2001:db8:bad::7" {
		t.Errorf("indicators %q", got)
	}
	if f.Related == nil || f.Truncated == nil {
		t.Errorf("related %#v truncated %#v: want empty lists", f.Related, f.Truncated)
	}
	if got := strings.Join(ForwardTargets(Sources{Mailbox: []exchange.AuditRecord{
		{Operation: "Set-Mailbox", Parameters: map[string]string{"ForwardingSmtpAddress": "smtp:Drop@Evil.example"}},
		{Operation: "New-InboxRule", Parameters: map[string]string{"RedirectTo": `"Boss" [SMTP:boss@contoso.example];x@evil2.example`}},
	}, Accepted: inboxrules.Domains{"contoso.example"}}), ","); got != "drop@evil.example,x@evil2.example" {
		t.Errorf("forward targets %q", got)
	}
}

func TestRelatedUsersSayWhyAndNeverTheTarget(t *testing.T) {
	t.Parallel()
	got := Related(RelatedInput{TargetID: "id-adele", TargetUPN: "adele@contoso.example",
		SignInsFrom: map[string][]graph.SignIn{"198.51.100.23": {
			{UserID: "id-adele", UPN: "Adele@contoso.example", Time: t0},
			{UserID: "id-lee", UPN: "lee@contoso.example", Time: t0.Add(-time.Hour), ErrorCode: 50126},
			{UserID: "id-lee", UPN: "lee@contoso.example", Time: t0.Add(-30 * time.Minute)},
			{UserID: "id-ann", UPN: "ann@contoso.example", Time: t0.Add(-20 * time.Minute), ErrorCode: 50126},
		}},
		ForwardingTo: map[string][]exchange.Mailbox{"drop@evil.example": {
			{UserPrincipalName: "adele@contoso.example", ExternalDirectoryObjectID: "id-adele"},
			{UserPrincipalName: "Lee@contoso.example"},
		}},
	})
	if fmt.Sprint(got) != "[{ann@contoso.example [failed sign-in (error 50126) from 198.51.100.23, an indicator address, at 2026-11-30T11:40:00Z]} "+
		"{lee@contoso.example [signed in from 198.51.100.23, an indicator address, at 2026-11-30T11:30:00Z mailbox forwards to drop@evil.example, where the investigated mailbox's mail was sent]}]" {
		t.Errorf("related %v", got)
	}
}

// A rule deleted from the attacker's address (to hide what it did) is on the timeline,
// tied to the sign-in that brought the address.
func TestADeletedRuleIsOnTheTimeline(t *testing.T) {
	t.Parallel()
	if !strings.Contains(strings.Join(MailboxOperations, ","), "Remove-InboxRule") {
		t.Fatalf("Remove-InboxRule is not read: %q", MailboxOperations)
	}
	f := Build(Sources{From: t0.Add(-7 * 24 * time.Hour), To: t0,
		SignIns: []graph.SignIn{home(t0.Add(-6 * 24 * time.Hour)), {Time: t0.Add(-2 * time.Hour), IP: "198.51.100.23", Country: "NG"}},
		Mailbox: []exchange.AuditRecord{{Time: t0.Add(-time.Hour), Operation: "Remove-InboxRule", ClientIP: "198.51.100.23:4431",
			Parameters: map[string]string{"Identity": `adele@contoso.example\Sync`}}}})
	var got *string
	for i, e := range f.Timeline {
		if e.Source == "mailbox" {
			got = &f.Timeline[i].What
			if len(e.Signals) == 0 {
				t.Errorf("the deletion from the new address is not flagged: %+v", e)
			}
		}
	}
	if got == nil || *got != `inbox rule deleted: "adele@contoso.example\Sync"` {
		t.Errorf("timeline %+v", f.Timeline)
	}
}

// A non-interactive sign-in from a new address in a known country is a device changing
// networks, not a signal; from a new country it is.
func TestNonInteractiveSignInsAreFlaggedForANewCountryOnly(t *testing.T) {
	to := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	base := []graph.SignIn{
		{Time: to.Add(-5 * 24 * time.Hour), IP: "203.0.113.10", Country: "US", SessionID: "home"},
		{Time: to.Add(-2 * time.Hour), IP: "198.51.100.77", Country: "US", NonInteractive: true, SessionID: "home"},
		{Time: to.Add(-time.Hour), IP: "192.0.2.5", Country: "NL", NonInteractive: true, SessionID: "other"},
	}
	f := Build(Sources{From: to.Add(-7 * 24 * time.Hour), To: to, SignIns: base})
	flagged := map[string]bool{}
	for _, e := range f.Timeline {
		flagged[e.IP] = len(e.Signals) > 0
	}
	if flagged["198.51.100.77"] || !flagged["192.0.2.5"] {
		t.Errorf("flags %v: want the NL token use flagged, the US network change not", flagged)
	}
}

// A way in the attacker left elsewhere in the tenant, made by the investigated account, is a
// signal for a person; the same activity made by someone else on the account, or one that
// failed, is not; none of them starts the attacker's clock (indicators).
func TestPersistenceTheUserLeftIsFlagged(t *testing.T) {
	t.Parallel()
	const user, admin = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	f := Build(Sources{From: t0.Add(-24 * time.Hour), To: t0, UserID: user, Directory: []graph.DirectoryAudit{
		{Time: t0.Add(-5 * time.Hour), Activity: "Add service principal credentials", Result: "success", InitiatorID: user, IP: "198.51.100.23", Targets: []string{"Mail Sync Pro"}},
		{Time: t0.Add(-4 * time.Hour), Activity: "Update application \u2013 Certificates and secrets management ", Result: "success", InitiatorID: strings.ToUpper(user)},
		{Time: t0.Add(-3 * time.Hour), Activity: "Add member to role", Result: "success", InitiatorID: admin, Targets: []string{"adele"}},
		{Time: t0.Add(-2 * time.Hour), Activity: "Add user", Result: "failure", InitiatorID: user},
		{Time: t0.Add(-1 * time.Hour), Activity: "Update user", Result: "success", InitiatorID: user},
	}})
	var persistence []string
	for _, s := range f.Signals {
		if strings.HasPrefix(s, "possible persistence: ") {
			persistence = append(persistence, s)
		}
	}
	if len(persistence) != 2 || !strings.Contains(persistence[0], "Add service principal credentials") || !strings.Contains(persistence[0], "from 198.51.100.23") ||
		!strings.Contains(persistence[1], "Certificates and secrets management") {
		t.Fatalf("persistence signals %q", persistence)
	}
	if len(f.Indicators.IPs) != 0 {
		t.Errorf("indicators %v: a persistence signal must not start the attacker's clock", f.Indicators.IPs)
	}
	flagged := 0
	for _, e := range f.Timeline {
		if len(e.Signals) > 0 {
			flagged++
		}
	}
	if flagged != 2 {
		t.Errorf("%d timeline entries flagged, want the 2 the user made", flagged)
	}
	// Without the user's id nothing can be told to be the user's own: nothing is flagged.
	if f := Build(Sources{From: t0.Add(-24 * time.Hour), To: t0, Directory: []graph.DirectoryAudit{
		{Time: t0.Add(-5 * time.Hour), Activity: "Add service principal credentials", Result: "success", InitiatorID: user},
	}}); len(f.Signals) != 0 {
		t.Errorf("signals without the user's id %q", f.Signals)
	}
}
