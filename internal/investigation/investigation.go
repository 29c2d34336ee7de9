// Package investigation turns what the audit sources answered (sign-ins, directory audit
// records, unified audit log records, message trace rows) into the findings of the
// investigate step (CONTRACT.md section 1.1.1): one timeline oldest first, a summary, and
// signals. It is pure, like internal/inboxrules: the same records always give the same
// findings, so run records and tests are stable.
//
// The signals are simple rules, each said in words on the entries it concerns:
//
//   - Before and after. The first suspicious event is the earliest mailbox change that
//     sends mail away or destroys it (a rule that forwards, redirects or deletes, mailbox
//     forwarding, a delegate added), MFA method registration, consent, or risky sign-in
//     (risk medium or high); a rule that only files mail is the user's own habit as often
//     as not, so it does not start the clock. The attacker signs in before acting, so the baseline is the
//     successful sign-ins more than a day before it (Baseline); with no suspicious event the
//     last day is compared with the days before it.
//   - A successful sign-in after the baseline from a country, or an IP address, that no
//     baseline sign-in came from is flagged; its IP becomes a suspect IP. A non-interactive
//     sign-in (a client using its token) is flagged for a new country only, or when it is in
//     the session of a flagged sign-in from another address (the token used elsewhere).
//   - A mailbox change (rule created or changed, forwarding set, permission added) from a
//     suspect IP is flagged, naming the sign-in that brought the IP.
//   - Every MFA method registered, and every consent to an application, in the window is
//     flagged: attackers add their own method to keep access and consent to apps to read
//     mail through the API.
//   - A burst of external mail: BurstThreshold or more messages to recipients outside the
//     accepted domains within one hour.
//   - A way in left elsewhere in the tenant that the user made (persistence.go): app
//     credentials or owners, applications, role grants, accounts, Conditional Access and
//     federation changes. Flagged for a person; they do not start the attacker's clock.
package investigation

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/inboxrules"
	"github.com/tourniquet/tourniquet/internal/runs"
)

const (
	// Baseline is how long before the first suspicious event a sign-in must be to count as
	// the user's own habit.
	Baseline = 24 * time.Hour
	// BurstThreshold external messages within one hour make a burst.
	BurstThreshold = 20
	// MaxTimeline caps the timeline so the run record stays readable; flagged entries are
	// always kept, and the oldest unflagged ones go first (a note says how many).
	MaxTimeline = 5000
)

// MailboxOperations are the unified audit log operations read for mailbox changes.
var MailboxOperations = []string{
	"New-InboxRule", "Set-InboxRule", "UpdateInboxRules", "Set-Mailbox",
	"Add-MailboxPermission", "Add-RecipientPermission",
	// Rules deleted: an attacker removes the rules that hid the attack before leaving.
	"Remove-InboxRule",
	// Folder permissions: another account given read access to a folder (the cmdlets, and
	// the mailbox audit actions Outlook's sharing writes).
	"Add-MailboxFolderPermission", "Set-MailboxFolderPermission", "AddFolderPermissions", "ModifyFolderPermissions",
	// Mail flow rules the account made as an Exchange administrator: one rule can copy or
	// redirect the whole organisation's mail, and no step undoes it (persistence.go).
	"New-TransportRule", "Set-TransportRule", "Enable-TransportRule",
}

// MailItemsAccessedOperation is the mailbox audit action that records mail read (bind) or
// downloaded (sync); it is searched on its own and summarised per session.
const MailItemsAccessedOperation = "MailItemsAccessed"

// AuditConfigOperations are the unified audit log operations read tenant-wide, whoever ran
// them: a change of the audit configuration (turning ingestion off hides everything after).
var AuditConfigOperations = []string{"Set-AdminAuditLogConfig"}

// Sources is what the reads brought back; a source that could not be read is in
// Unavailable and its slice is nil.
type Sources struct {
	From, To time.Time
	// UserID is the investigated user's object id: directory events the user made
	// themselves (initiator) are told from those made on the user.
	UserID    string
	SignIns   []graph.SignIn
	Directory []graph.DirectoryAudit
	Mailbox   []exchange.AuditRecord
	// MailItems are the MailItemsAccessed records (nil when not read).
	MailItems   []exchange.AuditRecord
	Mail        []exchange.TracedMessage
	Accepted    inboxrules.Domains
	Unavailable []runs.Unavailable
	Notes       []string
	// Truncated names the sources whose results were cut at a service limit.
	Truncated []string
}

// entry is a timeline entry while the findings are built.
type entry struct {
	at time.Time
	runs.TimelineEntry
	signIn    *graph.SignIn
	suspicion bool // counts as a suspicious event for the baseline
	mailboxOp bool
	// auditConfig: a change of the tenant's audit configuration (Set-AdminAuditLogConfig).
	auditConfig bool
	// persistence says why the event is a way in left elsewhere in the tenant, which no
	// containment step undoes (persistence.go); "" when it is not one.
	persistence string
}

// Build makes the findings.
func Build(s Sources) *runs.Findings {
	f := &runs.Findings{
		From: s.From.UTC().Format(time.RFC3339), To: s.To.UTC().Format(time.RFC3339),
		Timeline: []runs.TimelineEntry{}, Unavailable: s.Unavailable, Signals: []string{}, Notes: s.Notes,
		Summary:    runs.FindingsSummary{Countries: []string{}, IPs: []string{}, ExternalDomains: []string{}},
		Indicators: runs.Indicators{IPs: []string{}}, Related: []runs.Related{}, Truncated: append([]string{}, s.Truncated...),
	}
	if f.Unavailable == nil {
		f.Unavailable = []runs.Unavailable{}
	}
	var entries []*entry
	for i := range s.SignIns {
		entries = append(entries, signInEntry(&s.SignIns[i]))
	}
	for _, a := range s.Directory {
		e := directoryEntry(a)
		e.persistence = persistence(a, s.UserID)
		entries = append(entries, e)
	}
	for _, r := range s.Mailbox {
		entries = append(entries, mailboxEntry(r))
	}
	mail, summary := mailEntries(s.Mail, s.Accepted)
	entries = append(entries, mail...)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at.Before(entries[j].at) })

	signal := func(e *entry, text string) {
		e.Signals = append(e.Signals, text)
		if !slices.Contains(f.Signals, text) {
			f.Signals = append(f.Signals, text)
		}
	}
	flagSignIns(entries, s, signal, f)
	tieSessions(entries, signal)
	for _, e := range entries {
		if e.Source == runs.SourceDirectory && e.suspicion {
			signal(e, e.What+" at "+e.Time+byIP(e.IP))
		}
	}
	for _, e := range mail {
		if e.suspicion {
			signal(e, e.Detail)
		}
	}
	for _, e := range entries {
		if e.persistence != "" {
			signal(e, fmt.Sprintf(runs.PersistenceSignal+"%s at %s%s (%s): no containment step undoes it; review it and undo it by hand", e.What, e.Time, byIP(e.IP), e.persistence))
		}
	}
	for _, e := range entries {
		if e.auditConfig {
			signal(e, fmt.Sprintf("the audit configuration was changed at %s%s (%s): what it hides after that is not in this timeline", e.Time, byIP(e.IP), e.What))
		}
	}

	// Summary.
	countries, ips := map[string]bool{}, map[string]bool{}
	for _, in := range s.SignIns {
		f.Summary.SignIns++
		if in.ErrorCode != 0 {
			f.Summary.FailedSignIns++
		}
		if in.NonInteractive {
			f.Summary.NonInteractiveSignIns++
		}
		if in.Country != "" {
			countries[in.Country] = true
		}
	}
	for _, e := range entries {
		if e.IP != "" {
			ips[e.IP] = true
		}
	}
	f.Summary.Countries, f.Summary.IPs = sortedKeys(countries), sortedKeys(ips)
	f.Summary.MailSent, f.Summary.ExternalRecipients, f.Summary.ExternalDomains = summary.sent, summary.externalRecipients, summary.externalDomains

	f.Indicators.IPs, f.Indicators.SessionIDs = indicators(entries)
	f.MailItemsAccessed = mailAccess(s.MailItems, f.Indicators)
	for _, a := range f.MailItemsAccessed {
		e := mailAccessEntry(a)
		if a.Attacker {
			signal(e, fmt.Sprintf("mail read in a session or from an address attributed to the attacker, %s to %s: %s", a.First, a.Last, e.What))
		}
		entries = append(entries, e)
		for _, ip := range a.IPs {
			if !slices.Contains(f.Summary.IPs, ip) {
				f.Summary.IPs = append(f.Summary.IPs, ip)
			}
		}
	}
	sort.Strings(f.Summary.IPs)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at.Before(entries[j].at) })

	entries = capTimeline(entries, f)
	for _, e := range entries {
		f.Timeline = append(f.Timeline, e.TimelineEntry)
	}
	return f
}

// flagSignIns applies the before-and-after rule and ties mailbox changes to suspect IPs.
func flagSignIns(entries []*entry, s Sources, signal func(*entry, string), f *runs.Findings) {
	anchor := s.To.Add(-Baseline)
	for _, e := range entries {
		if e.suspicion {
			anchor = e.at
			break
		}
	}
	cut := anchor.Add(-Baseline)
	seenCountry, seenIP := map[string]bool{}, map[string]bool{}
	baseline := 0
	for _, e := range entries {
		if e.signIn != nil && e.at.Before(cut) && e.signIn.ErrorCode == 0 {
			baseline++
			seenCountry[e.signIn.Country] = true
			seenIP[e.IP] = true
		}
	}
	if baseline == 0 {
		if len(s.SignIns) > 0 {
			f.Notes = append(f.Notes, fmt.Sprintf("no successful sign-in before %s to compare with: sign-ins are not marked new", cut.UTC().Format(time.RFC3339)))
		}
		return
	}
	suspect := map[string]string{} // IP -> the signal that made it suspect
	for _, e := range entries {
		in := e.signIn
		if in == nil || e.at.Before(cut) || in.ErrorCode != 0 {
			continue
		}
		var text string
		switch {
		case in.Country != "" && !seenCountry[in.Country]:
			text = fmt.Sprintf("sign-in from a country not seen in the baseline (before %s): %s, %s at %s", cut.UTC().Format(time.RFC3339), in.Country, e.IP, e.Time)
		case e.IP != "" && !seenIP[e.IP] && !in.NonInteractive:
			// A client refreshing its token signs in from whatever network the device is on
			// (mobile carriers change addresses all day): a new address alone flags only
			// interactive sign-ins. A non-interactive one is flagged for a new country, or
			// when it is in a flagged session (tieSessions).
			text = fmt.Sprintf("sign-in from an IP address not seen in the baseline (before %s): %s at %s", cut.UTC().Format(time.RFC3339), e.IP, e.Time)
		default:
			continue
		}
		signal(e, text)
		if e.IP != "" {
			if _, ok := suspect[e.IP]; !ok {
				suspect[e.IP] = e.Time
			}
		}
	}
	for _, e := range entries {
		if !e.mailboxOp || e.IP == "" {
			continue
		}
		if first, ok := suspect[e.IP]; ok {
			signal(e, fmt.Sprintf("%s at %s from %s, the address of a new sign-in at %s", e.What, e.Time, e.IP, first))
		}
	}
}

func signInEntry(in *graph.SignIn) *entry {
	e := &entry{at: in.Time, signIn: in}
	e.Time, e.Source, e.IP = stamp(in.Time), runs.SourceSignIn, NormalizeIP(in.IP)
	e.SessionID, e.TokenID = in.SessionID, in.TokenID
	app := orDash(in.App)
	if in.ClientApp != "" {
		app += " (" + in.ClientApp + ")"
	}
	kind := "sign-in to "
	if in.NonInteractive {
		kind = "non-interactive sign-in to "
	}
	if in.ErrorCode == 0 {
		e.What = kind + app
	} else {
		e.What = "failed " + kind + app
	}
	e.Location = joinNonEmpty(", ", in.City, in.State, in.Country)
	var detail []string
	if in.ErrorCode != 0 {
		detail = append(detail, fmt.Sprintf("error %d: %s", in.ErrorCode, in.FailureReason))
	}
	if in.Risk != "" && in.Risk != "none" && in.Risk != "hidden" {
		detail = append(detail, "risk during sign-in: "+in.Risk)
		e.suspicion = in.ErrorCode == 0 && (in.Risk == "medium" || in.Risk == "high")
	}
	e.Detail = strings.Join(detail, "; ")
	return e
}

// mfaActivity and consentActivity recognise the directory audit activities that register
// an authentication method or grant consent (Entra audit log activity names).
func mfaActivity(a graph.DirectoryAudit) bool {
	act := strings.ToLower(a.Activity)
	return strings.Contains(act, "registered security info") || strings.Contains(act, "authentication method") && !strings.Contains(act, "delete")
}

func consentActivity(a graph.DirectoryAudit) bool {
	return strings.Contains(strings.ToLower(a.Activity), "consent to application")
}

func directoryEntry(a graph.DirectoryAudit) *entry {
	e := &entry{at: a.Time}
	e.Time, e.Source, e.IP, e.What = stamp(a.Time), runs.SourceDirectory, NormalizeIP(a.IP), a.Activity
	by := a.InitiatorUPN
	if by == "" {
		by = a.InitiatorApp
	}
	var detail []string
	if by != "" {
		detail = append(detail, "by "+by)
	}
	if len(a.Targets) > 0 {
		detail = append(detail, "on "+strings.Join(a.Targets, ", "))
	}
	if a.Result != "" && a.Result != "success" {
		detail = append(detail, "result "+a.Result+" "+a.ResultReason)
	}
	e.Detail = strings.Join(detail, "; ")
	e.suspicion = a.Result == "success" || a.Result == ""
	e.suspicion = e.suspicion && (mfaActivity(a) || consentActivity(a))
	return e
}

func mailboxEntry(r exchange.AuditRecord) *entry {
	e := &entry{at: r.Time, mailboxOp: true, suspicion: sendsMailAway(r), auditConfig: auditConfigChange(r)}
	e.Time, e.Source, e.IP = stamp(r.Time), runs.SourceMailbox, NormalizeIP(r.ClientIP)
	e.SessionID, e.TokenID = r.SessionID, r.TokenID
	name := r.Parameters["Name"]
	switch r.Operation {
	case "New-InboxRule":
		e.What = "inbox rule created"
	case "Set-InboxRule":
		e.What = "inbox rule changed"
	case "Remove-InboxRule":
		e.What = "inbox rule deleted"
		if name == "" {
			name = r.Parameters["Identity"]
		}
	case "UpdateInboxRules":
		e.What = "inbox rules updated (Outlook)"
	case "Set-Mailbox":
		e.What = "mailbox settings changed"
		if fwd := r.Parameters["ForwardingSmtpAddress"]; fwd != "" {
			e.What = "mailbox forwarding set to " + inboxrules.ExtractAddress(fwd)
		} else if fwd := r.Parameters["ForwardingAddress"]; fwd != "" {
			e.What = "mailbox forwarding set to " + fwd
		}
	case "Add-MailboxPermission":
		e.What = "mailbox permission added"
	case "Add-RecipientPermission":
		e.What = "send-as permission added"
	case "Add-MailboxFolderPermission", "AddFolderPermissions":
		e.What = "folder permission added" + folderGrant(r)
	case "Set-MailboxFolderPermission", "ModifyFolderPermissions":
		e.What = "folder permission changed" + folderGrant(r)
	case "New-TransportRule", "Set-TransportRule", "Enable-TransportRule":
		e.What = map[string]string{"New-TransportRule": "mail flow rule created", "Set-TransportRule": "mail flow rule changed",
			"Enable-TransportRule": "mail flow rule enabled"}[r.Operation]
		if name == "" {
			name = r.Parameters["Identity"]
		}
		e.persistence = transportRulePersistence(r)
	case "Set-AdminAuditLogConfig":
		e.What = "audit log configuration changed"
		if v, ok := r.Parameters["UnifiedAuditLogIngestionEnabled"]; ok && isFalse(v) {
			e.What = "unified audit log turned off (UnifiedAuditLogIngestionEnabled False)"
		}
	default:
		e.What = r.Operation
	}
	if name != "" {
		e.What += ": " + quote(name)
	}
	keys := make([]string, 0, len(r.Parameters))
	for k := range r.Parameters {
		if k != "Name" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var detail []string
	for _, k := range keys {
		detail = append(detail, k+"="+clip(r.Parameters[k], 200))
	}
	if r.ObjectID != "" {
		detail = append([]string{"object " + r.ObjectID}, detail...)
	}
	if auditConfigChange(r) && r.UserID != "" {
		detail = append([]string{"by " + r.UserID}, detail...)
	}
	e.Detail = strings.Join(detail, "; ")
	return e
}

// folderGrant says whom a folder permission change lets in, to which folder, with which
// rights, from the cmdlet's parameters (Identity "mailbox:\Folder", User, AccessRights) or
// the mailbox audit record's folder.
func folderGrant(r exchange.AuditRecord) string {
	folder := folderOf(r)
	var parts []string
	if u := strings.TrimSpace(r.Parameters["User"]); u != "" {
		parts = append(parts, " for "+u)
	}
	if folder != "" {
		parts = append(parts, " on "+folder)
	}
	if rights := strings.TrimSpace(r.Parameters["AccessRights"]); rights != "" {
		parts = append(parts, " ("+rights+")")
	}
	return strings.Join(parts, "")
}

// folderOf is the folder a folder permission change is on: the part of Identity after the
// colon ("adele@contoso.com:\Inbox"), else the record's first folder.
func folderOf(r exchange.AuditRecord) string {
	if id := strings.TrimSpace(r.Parameters["Identity"]); id != "" {
		if _, folder, ok := strings.Cut(id, ":"); ok {
			return folder
		}
		return id
	}
	if len(r.Folders) > 0 {
		return r.Folders[0]
	}
	return strings.TrimSpace(r.Parameters["FolderPath"])
}

// folderPermission reports a folder permission change, and whether it gives access to a
// folder that holds mail: calendar sharing is the user's habit far more often than an
// attacker's, so it does not start the clock; read access to the inbox or another mail
// folder does, as mailbox permissions do.
func folderPermission(r exchange.AuditRecord) (change, mail bool) {
	switch r.Operation {
	case "Add-MailboxFolderPermission", "Set-MailboxFolderPermission", "AddFolderPermissions", "ModifyFolderPermissions":
	default:
		return false, false
	}
	folder := strings.ToLower(folderOf(r))
	rights := strings.ToLower(r.Parameters["AccessRights"])
	if strings.Contains(folder, "calendar") || rights == "none" || rights == "availabilityonly" || rights == "limiteddetails" {
		return true, false
	}
	return true, true
}

func auditConfigChange(r exchange.AuditRecord) bool {
	return strings.EqualFold(r.Operation, "Set-AdminAuditLogConfig")
}

func isFalse(v string) bool {
	v = strings.TrimPrefix(strings.TrimSpace(strings.ToLower(v)), "$")
	return v == "false" || v == "0"
}

// sendsMailAway reports a mailbox change that forwards, redirects or deletes mail, or lets
// someone else in: what an attacker does, and a user rarely does.
func sendsMailAway(r exchange.AuditRecord) bool {
	switch r.Operation {
	case "Add-MailboxPermission", "Add-RecipientPermission":
		return true
	}
	if _, mail := folderPermission(r); mail {
		return true
	}
	for _, k := range []string{"ForwardTo", "RedirectTo", "ForwardAsAttachmentTo", "ForwardingSmtpAddress", "ForwardingAddress"} {
		if strings.TrimSpace(r.Parameters[k]) != "" {
			return true
		}
	}
	return strings.EqualFold(r.Parameters["DeleteMessage"], "true")
}

type mailSummary struct {
	sent, externalRecipients int
	externalDomains          []string
}

// mailEntries summarises sent mail by the hour (one entry per hour with mail) and flags
// the hours with a burst of external mail.
func mailEntries(rows []exchange.TracedMessage, accepted inboxrules.Domains) ([]*entry, mailSummary) {
	type hour struct {
		first            time.Time
		messages, extMsg map[string]bool
		domains          map[string]bool
	}
	hours := map[time.Time]*hour{}
	messages, external, domains := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, r := range rows {
		id := r.MessageTraceID
		if id == "" {
			id = fmt.Sprintf("row-%d", i)
		}
		messages[id] = true
		h := hours[r.Received.Truncate(time.Hour)]
		if h == nil {
			h = &hour{first: r.Received, messages: map[string]bool{}, extMsg: map[string]bool{}, domains: map[string]bool{}}
			hours[r.Received.Truncate(time.Hour)] = h
		}
		if r.Received.Before(h.first) {
			h.first = r.Received
		}
		h.messages[id] = true
		addr := strings.ToLower(strings.TrimSpace(r.RecipientAddress))
		if _, domain, ok := strings.Cut(addr, "@"); ok && !accepted.Internal(addr) {
			external[addr], domains[domain], h.domains[domain] = true, true, true
			h.extMsg[id] = true
		}
	}
	var out []*entry
	for _, h := range hours {
		e := &entry{at: h.first}
		e.Time, e.Source = stamp(h.first), runs.SourceMail
		e.What = fmt.Sprintf("%d messages sent within the hour, %d to external recipients", len(h.messages), len(h.extMsg))
		if len(h.messages) == 1 {
			e.What = fmt.Sprintf("1 message sent within the hour, %d to external recipients", len(h.extMsg))
		}
		if len(h.domains) > 0 {
			e.Detail = "external domains: " + strings.Join(firstN(sortedKeys(h.domains), 20), ", ")
		}
		if len(h.extMsg) >= BurstThreshold {
			e.suspicion = true
			e.Detail = fmt.Sprintf("burst of external mail: %d messages to external recipients within the hour from %s (%s)", len(h.extMsg), e.Time, e.Detail)
		}
		out = append(out, e)
	}
	return out, mailSummary{sent: len(messages), externalRecipients: len(external), externalDomains: sortedKeys(domains)}
}

// capTimeline keeps at most MaxTimeline entries: every flagged one, then the newest others.
func capTimeline(entries []*entry, f *runs.Findings) []*entry {
	if len(entries) <= MaxTimeline {
		return entries
	}
	keep := make([]bool, len(entries))
	room := MaxTimeline
	for i, e := range entries {
		if len(e.Signals) > 0 && room > 0 {
			keep[i] = true
			room--
		}
	}
	for i := len(entries) - 1; i >= 0 && room > 0; i-- {
		if !keep[i] {
			keep[i] = true
			room--
		}
	}
	var out []*entry
	for i, e := range entries {
		if keep[i] {
			out = append(out, e)
		}
	}
	f.Notes = append(f.Notes, fmt.Sprintf("the timeline holds %d of %d events: every flagged event and the newest others (the summary counts all of them)", len(out), len(entries)))
	return out
}

// NormalizeIP returns the address without a port: "203.0.113.5:4431" and
// "[2001:db8::5]:443" give the bare address, an IPv4-mapped IPv6 address its IPv4 form.
// Text that is no address is returned trimmed, as the service wrote it.
func NormalizeIP(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if ip := net.ParseIP(s); ip != nil {
		return ip.String()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if ip := net.ParseIP(host); ip != nil {
			return ip.String()
		}
	}
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
		return ip.String()
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func byIP(ip string) string {
	if ip == "" {
		return ""
	}
	return " from " + ip
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, strings.TrimSpace(p))
		}
	}
	return strings.Join(out, sep)
}

func orDash(s string) string {
	if s == "" {
		return "an unnamed application"
	}
	return s
}

func quote(s string) string { return `"` + clip(s, 120) + `"` }

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
