// Package triage decides, for each account of a security incident, whether Tourniquet may
// remediate it. An incident's account entities are not all compromised accounts: in a
// Defender for Office 365 incident they are the recipients of the phishing mail
// (Azure-Sentinel issue #12496), and in a password spray or failed sign-in alert they are
// whoever the attacker tried. A playbook that remediates every account of such an incident
// resets the passwords of the attacker's targets, or of every admin the attacker sprayed.
//
// The rule: remediate only an account that an alert which marks its account compromised
// names (the Compromise class of the table in alerts.go), or that an analyst tagged; skip
// the accounts that only appear as mail recipients or spray targets; when it cannot tell,
// answer a dry run, which shows the plan and changes nothing. The package only reads what it
// is given: no tenant call, no record.
package triage

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/tourniquet/tourniquet/internal/ident"
)

// Decision values.
const (
	Remediate = "remediate"
	DryRun    = "dry_run"
	Skip      = "skip"
)

// TagPrefix is the incident tag (Sentinel label) by which an analyst asks to remediate one
// account: tourniquet:remediate:<UPN or object id>.
const TagPrefix = "tourniquet:remediate:"

// Account is the answer for one account of the incident.
type Account struct {
	// User names the account for POST /api/remediations: its object id when the entity
	// has a valid one, else its UPN; "" when it has neither in a valid form.
	User string `json:"user"`
	// UserPrincipalName, when the entity or tag gave one.
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	// Decision is remediate, dry_run or skip.
	Decision string `json:"decision"`
	// Why says what the decision rests on, for the incident comment.
	Why string `json:"why"`
}

// Result is the answer of POST /api/triage/sentinel.
type Result struct {
	// Accounts lists every account of the incident (entities and tags), once each.
	Accounts []Account `json:"accounts"`
}

// Sentinel decides for each account of a Microsoft Sentinel incident, as the incident
// trigger delivers it. It fails only on a body that is not an incident or is too large.
func Sentinel(body []byte, table *Table) (Result, error) {
	inc, err := parseSentinel(body)
	if err != nil {
		return Result{}, err
	}
	return decide(inc, table), nil
}

// account is an account of the incident as the triage sees it.
type account struct {
	id, upn string
	tagged  bool
}

// accountSet holds the accounts once each: two entities with the same object id or UPN are
// one account. Lookups are by map, so an incident of thousands of entities costs no more
// than reading it.
type accountSet struct {
	list        []*account
	byID, byUPN map[string]*account // lower-case keys
}

func (s *accountSet) add(id, upn string) *account {
	a := s.find(id, upn)
	if a == nil {
		a = &account{}
		s.list = append(s.list, a)
	}
	if a.id == "" && id != "" {
		a.id = id
	}
	if a.upn == "" && upn != "" {
		a.upn = upn
	}
	if s.byID == nil {
		s.byID, s.byUPN = map[string]*account{}, map[string]*account{}
	}
	if a.id != "" {
		s.byID[strings.ToLower(a.id)] = a
	}
	if a.upn != "" {
		s.byUPN[strings.ToLower(a.upn)] = a
	}
	return a
}

func (s *accountSet) find(id, upn string) *account {
	if id != "" {
		if a, ok := s.byID[strings.ToLower(id)]; ok {
			return a
		}
	}
	if upn != "" {
		if a, ok := s.byUPN[strings.ToLower(upn)]; ok {
			return a
		}
	}
	return nil
}

// identify reads the object id and UPN of an account entity, keeping only valid ones.
func identify(f entityFields) (id, upn, raw string) {
	rawID, rawUPN := strings.TrimSpace(string(f.AadUserID)), strings.TrimSpace(string(f.UserPrincipalName))
	if rawUPN == "" && f.AccountName != "" && f.UPNSuffix != "" {
		rawUPN = strings.TrimSpace(string(f.AccountName)) + "@" + strings.TrimSpace(string(f.UPNSuffix))
	}
	if ident.ValidID(rawID) {
		id = strings.ToLower(rawID)
	}
	if ident.ValidUPN(rawUPN) {
		upn = rawUPN
	}
	raw = rawUPN
	if raw == "" {
		raw = or(text(rawID), f.AccountName).string()
	}
	return id, upn, raw
}

func (t text) string() string { return string(t) }

// scored is one alert of the incident with its class.
type scored struct {
	name     string
	class    Class
	why      string
	accounts []*account // the accounts among the alert's own entities, when it carries them
	named    string     // compromisedEntity
	// about holds the accounts of the incident the alert names: its own account entities,
	// and the account its compromisedEntity names (by UPN or object id).
	about map[*account]bool
}

func decide(inc incident, table *Table) Result {
	p := inc.Properties
	var set accountSet
	var invalid []string
	seenInvalid := map[string]bool{}
	addAccount := func(f entityFields) *account {
		id, upn, raw := identify(f)
		if id == "" && upn == "" {
			if raw != "" && !seenInvalid[raw] {
				seenInvalid[raw] = true
				invalid = append(invalid, raw)
			}
			return nil
		}
		return set.add(id, upn)
	}
	// Mail recipients and mailboxes of the incident, by address and object id.
	recipients := map[string]bool{}
	for _, e := range p.RelatedEntities {
		f := e.fields()
		switch e.kind() {
		case "account":
			addAccount(f)
		case "mailmessage":
			recipients[strings.ToLower(strings.TrimSpace(string(f.Recipient)))] = true
		case "mailbox":
			for _, v := range []text{f.MailboxPrimaryAddress, f.Upn, f.AadID, f.ExternalDirectoryObjectID} {
				recipients[strings.ToLower(strings.TrimSpace(string(v)))] = true
			}
		}
	}
	delete(recipients, "")

	alerts := make([]scored, 0, len(p.Alerts))
	for _, a := range p.Alerts {
		if a.broken {
			alerts = append(alerts, scored{name: "(an alert that could not be read)", class: Unknown, why: "an alert that could not be read"})
			continue
		}
		ap := a.Properties
		class, why := table.Classify(string(ap.ProductName), string(ap.AlertDisplayName), string(ap.AlertType))
		s := scored{name: display(string(ap.AlertDisplayName)), class: class, why: why, named: strings.TrimSpace(string(ap.CompromisedEntity))}
		if s.name == "" {
			s.name = "(an alert without a name)"
		}
		for _, e := range ap.Entities {
			if e.kind() == "account" {
				if acc := addAccount(e.fields()); acc != nil {
					s.accounts = append(s.accounts, acc)
				}
			}
		}
		alerts = append(alerts, s)
	}

	// Tags: tourniquet:remediate:<UPN or object id>.
	var badTags []string
	for _, l := range p.Labels {
		name := strings.TrimSpace(string(l.LabelName))
		if len(name) < len(TagPrefix) || !strings.EqualFold(name[:len(TagPrefix)], TagPrefix) {
			continue
		}
		v := strings.TrimSpace(name[len(TagPrefix):])
		switch {
		case ident.ValidID(v):
			set.add(strings.ToLower(v), "").tagged = true
		case ident.ValidUPN(v):
			set.add("", v).tagged = true
		default:
			badTags = append(badTags, v)
		}
	}

	for i := range alerts {
		s := &alerts[i]
		s.about = map[*account]bool{}
		for _, a := range s.accounts {
			s.about[a] = true
		}
		if s.named != "" {
			if a := set.find(strings.ToLower(s.named), s.named); a != nil {
				s.about[a] = true
			}
		}
	}

	var out []Account
	for _, a := range set.list {
		out = append(out, decideOne(a, &set, alerts, recipients, badTags))
	}
	for _, raw := range invalid {
		out = append(out, Account{Decision: Skip, Why: fmt.Sprintf("an account entity whose name %q is neither a valid UPN nor an object id; nothing can act on it", shorten(raw, 80))})
	}
	return Result{Accounts: capAnswer(out)}
}

// maxAnswered bounds the accounts of one answer: the playbook comments the incident once per
// account, and an incident of hundreds of recipients must not bury the analyst in comments.
const maxAnswered = 100

// capAnswer orders the answer remediate, dry_run, skip (as found within each) and keeps
// maxAnswered entries, the last of which then says how many were left out and what they
// were. An account left out is acted on by nothing; the tag names it, and is answered first.
func capAnswer(out []Account) []Account {
	rank := map[string]int{Remediate: 0, DryRun: 1, Skip: 2}
	slices.SortStableFunc(out, func(a, b Account) int { return rank[a.Decision] - rank[b.Decision] })
	if len(out) <= maxAnswered {
		if out == nil {
			return []Account{}
		}
		return out
	}
	counts := map[string]int{}
	for _, a := range out[maxAnswered-1:] {
		counts[a.Decision]++
	}
	kept := slices.Clone(out[:maxAnswered-1])
	return append(kept, Account{Decision: Skip, Why: fmt.Sprintf(
		"and %d more accounts of this incident, not listed and not acted on (%d remediate, %d dry run, %d skip): the triage answers at most %d accounts; act on one of them with the tag %s<UPN or object id>",
		len(out)-maxAnswered+1, counts[Remediate], counts[DryRun], counts[Skip], maxAnswered, TagPrefix)})
}

func decideOne(a *account, set *accountSet, alerts []scored, recipients map[string]bool, badTags []string) Account {
	out := Account{User: a.id, UserPrincipalName: a.upn}
	if out.User == "" {
		out.User = a.upn
	}
	verdict := func(decision, why string) Account {
		out.Decision, out.Why = decision, why+tagHint(badTags)
		return out
	}
	if a.tagged {
		return verdict(Remediate, "an analyst tagged the incident "+TagPrefix+"<this account>")
	}
	// An alert that marks its account compromised names this one.
	for _, s := range alerts {
		if s.class == Compromise && s.about[a] {
			return verdict(Remediate, fmt.Sprintf("the alert \"%s\" names this account: %s", s.name, s.why))
		}
	}
	if len(alerts) == 0 {
		return verdict(DryRun, "the incident carries no alert the playbook can read (Defender XDR incidents often arrive without them), so nothing says this account is compromised")
	}
	recipient := recipients[strings.ToLower(a.upn)] || recipients[a.id]
	// The alerts that may be about this account: those that name it, and those that name no
	// account of the incident. An alert that names other accounts is not about this one.
	var relevant []scored
	for _, s := range alerts {
		if len(s.about) == 0 || s.about[a] {
			relevant = append(relevant, s)
		}
	}
	if len(relevant) == 0 {
		return verdict(Skip, "every alert of the incident ("+names(alerts)+") names other accounts")
	}
	negative := true
	for _, s := range relevant {
		negative = negative && (s.class == Mail || s.class == Spray)
	}
	if negative {
		return verdict(Skip, "it appears only as the target of "+describe(relevant, recipient)+"; a target is not a compromised account")
	}
	allCompromise := true
	for _, s := range alerts {
		allCompromise = allCompromise && s.class == Compromise
	}
	if allCompromise && len(set.list) == 1 && !recipient {
		return verdict(Remediate, fmt.Sprintf("the only account of an incident whose every alert marks its account compromised (%s)", names(alerts)))
	}
	why := "no alert that marks its account compromised names this account"
	var unsure []string
	for _, s := range relevant {
		if s.class == Unknown || s.class == Unconfirmed {
			unsure = append(unsure, fmt.Sprintf("\"%s\" (%s)", s.name, s.why))
		}
	}
	switch {
	case len(unsure) > 0:
		why = "the incident's alerts do not prove a compromise of this account: " + strings.Join(first(uniq(unsure), 5), "; ")
	case allCompromise:
		why = fmt.Sprintf("the incident's alerts (%s) mark an account compromised but do not say which of its %d accounts", names(alerts), len(set.list))
	}
	if recipient {
		why += "; it is also a recipient of mail in this incident"
	}
	return verdict(DryRun, why)
}

func describe(list []scored, recipient bool) string {
	var mail, spray []string
	for _, s := range list {
		if s.class == Mail {
			mail = append(mail, `"`+s.name+`"`)
		} else {
			spray = append(spray, `"`+s.name+`"`)
		}
	}
	var parts []string
	if len(mail) > 0 {
		who := "mail alerts"
		if recipient {
			who = "mail alerts (a recipient of their message)"
		}
		parts = append(parts, who+" "+strings.Join(first(uniq(mail), 5), ", "))
	}
	if len(spray) > 0 {
		parts = append(parts, "spray, brute force or failed sign-in alerts "+strings.Join(first(uniq(spray), 5), ", ")+", whose accounts the attacker chose")
	}
	return strings.Join(parts, " and ")
}

func names(list []scored) string {
	var n []string
	for _, s := range list {
		n = append(n, `"`+s.name+`"`)
	}
	return strings.Join(first(uniq(n), 5), ", ")
}

func tagHint(badTags []string) string {
	if len(badTags) == 0 {
		return ""
	}
	var quoted []string
	for _, t := range first(badTags, 3) {
		quoted = append(quoted, fmt.Sprintf("%q", shorten(t, 80)))
	}
	return "; the tags " + TagPrefix + strings.Join(quoted, ", ") + " name no valid UPN or object id and were ignored"
}

func uniq(s []string) []string {
	var out []string
	seen := make(map[string]bool, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

// display is an alert name for the why: without invisible or control characters, white
// space folded, at most 100 bytes.
func display(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) || unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return shorten(strings.Join(strings.Fields(s), " "), 100)
}

// shorten cuts s to at most n bytes on a rune boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
