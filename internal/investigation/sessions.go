package investigation

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// tieSessions ties events to the session of a flagged sign-in: a mailbox change whose
// AppAccessContext AADSessionId is the sessionId of a new sign-in was done in that sign-in's
// session, and a sign-in in that session from another address is the session's token used
// elsewhere (a token replayed shows only as a non-interactive sign-in).
func tieSessions(entries []*entry, signal func(*entry, string)) {
	opened := map[string]*entry{} // session id -> the first flagged successful sign-in in it
	for _, e := range entries {
		if e.signIn != nil && e.SessionID != "" && e.signIn.ErrorCode == 0 && len(e.Signals) > 0 {
			if _, ok := opened[e.SessionID]; !ok {
				opened[e.SessionID] = e
			}
		}
	}
	if len(opened) == 0 {
		return
	}
	for _, e := range entries {
		first, ok := opened[e.SessionID]
		if !ok || e == first {
			continue
		}
		switch {
		case e.mailboxOp:
			signal(e, fmt.Sprintf("%s at %s in session %s, opened by the new sign-in from %s at %s", e.What, e.Time, e.SessionID, first.IP, first.Time))
		case e.signIn != nil && e.signIn.ErrorCode == 0 && e.IP != "" && e.IP != first.IP:
			signal(e, fmt.Sprintf("%s at %s from %s uses session %s, opened by the new sign-in from %s at %s: the session's token is used from another address", e.What, e.Time, e.IP, e.SessionID, first.IP, first.Time))
		}
	}
}

// indicators are the addresses and sessions the investigation attributes to the attacker:
// the addresses of the events that start the clock (contract 1.1.1: mail sent away or
// access given, consent, method registered), first seen first; the sessions of those
// events and of the flagged sign-ins from those addresses; and the addresses of successful
// sign-ins in those sessions (the attacker's token used from elsewhere).
func indicators(entries []*entry) (ips, sessions []string) {
	ips, sessions = []string{}, nil
	seenIP, seenSession := map[string]bool{}, map[string]bool{}
	addIP := func(ip string) {
		if ip != "" && !seenIP[ip] {
			seenIP[ip] = true
			ips = append(ips, ip)
		}
	}
	addSession := func(id string) {
		if id != "" && !seenSession[id] {
			seenSession[id] = true
			sessions = append(sessions, id)
		}
	}
	for _, e := range entries {
		if e.suspicion && (e.Source == runs.SourceMailbox || e.Source == runs.SourceDirectory) {
			addIP(e.IP)
			addSession(e.SessionID)
		}
	}
	for _, e := range entries {
		if e.signIn != nil && e.signIn.ErrorCode == 0 && len(e.Signals) > 0 && seenIP[e.IP] {
			addSession(e.SessionID)
		}
	}
	for _, e := range entries {
		if e.signIn != nil && e.signIn.ErrorCode == 0 && seenSession[e.SessionID] {
			addIP(e.IP)
		}
	}
	return ips, sessions
}

// mailAccess summarises MailItemsAccessed records per session (AppAccessContext
// AADSessionId; records without one are grouped by client address): one summary per
// session, never one entry per item, oldest session first.
func mailAccess(records []exchange.AuditRecord, ind runs.Indicators) []runs.MailAccess {
	type group struct {
		runs.MailAccess
		first, last time.Time
		ips         map[string]bool
		folders     map[string]bool
	}
	groups := map[string]*group{}
	var order []string
	for _, r := range records {
		ip := NormalizeIP(r.ClientIP)
		key := "session:" + r.SessionID
		if r.SessionID == "" {
			key = "ip:" + ip
		}
		g := groups[key]
		if g == nil {
			g = &group{first: r.Time, last: r.Time, ips: map[string]bool{}, folders: map[string]bool{}}
			g.SessionID = r.SessionID
			groups[key] = g
			order = append(order, key)
		}
		if r.Time.Before(g.first) {
			g.first = r.Time
		}
		if r.Time.After(g.last) {
			g.last = r.Time
		}
		if ip != "" {
			g.ips[ip] = true
		}
		for _, f := range r.Folders {
			g.folders[f] = true
		}
		g.Records++
		if strings.EqualFold(r.Parameters["MailAccessType"], "Sync") {
			g.Syncs++
		} else {
			g.Items += max(r.Items, 1)
		}
	}
	out := make([]runs.MailAccess, 0, len(groups))
	for _, key := range order {
		g := groups[key]
		a := g.MailAccess
		a.First, a.Last, a.IPs, a.Folders = stamp(g.first), stamp(g.last), sortedKeys(g.ips), firstN(sortedKeys(g.folders), 20)
		a.Attacker = a.SessionID != "" && slices.Contains(ind.SessionIDs, a.SessionID)
		for _, ip := range a.IPs {
			a.Attacker = a.Attacker || slices.Contains(ind.IPs, ip)
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].First < out[j].First })
	return out
}

// mailAccessEntry is the timeline entry of one session's mail access.
func mailAccessEntry(a runs.MailAccess) *entry {
	at, _ := time.Parse(time.RFC3339, a.First)
	e := &entry{at: at}
	e.Time, e.Source, e.SessionID = a.First, runs.SourceMailbox, a.SessionID
	if len(a.IPs) > 0 {
		e.IP = a.IPs[0]
	}
	var what []string
	if a.Items > 0 {
		what = append(what, fmt.Sprintf("%d mail items opened", a.Items))
	}
	switch {
	case a.Syncs == 1:
		what = append(what, "1 folder sync (every item in it to be taken as read)")
	case a.Syncs > 1:
		what = append(what, fmt.Sprintf("%d folder syncs (every item in them to be taken as read)", a.Syncs))
	}
	records := fmt.Sprintf("%d records", a.Records)
	if a.Records == 1 {
		records = "1 record"
	}
	e.What = strings.Join(what, " and ") + " (MailItemsAccessed, " + records + sessionText(a.SessionID) + ")"
	detail := []string{"until " + a.Last}
	if len(a.IPs) > 1 {
		detail = append(detail, "from "+strings.Join(a.IPs, ", "))
	}
	if len(a.Folders) > 0 {
		detail = append(detail, "folders "+strings.Join(a.Folders, ", "))
	}
	e.Detail = strings.Join(detail, "; ")
	return e
}

func sessionText(id string) string {
	if id == "" {
		return ""
	}
	return " in session " + id
}
