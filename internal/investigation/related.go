package investigation

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/inboxrules"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// MaxRelatedLookups bounds the tenant-wide look-ups for related users: at most this many
// indicator addresses and this many forwarding addresses, one page each.
const MaxRelatedLookups = 5

// forwardingParameters are the cmdlet parameters that send a mailbox's mail to an address.
var forwardingParameters = []string{"ForwardingSmtpAddress", "ForwardTo", "RedirectTo", "ForwardAsAttachmentTo"}

// ForwardTargets are the external addresses the mailbox changes sent mail to (mailbox
// forwarding, rules that forward or redirect), lower case, sorted. With no accepted
// domains known every address counts as external.
func ForwardTargets(s Sources) []string {
	found := map[string]bool{}
	for _, r := range s.Mailbox {
		for _, k := range forwardingParameters {
			for _, part := range strings.FieldsFunc(r.Parameters[k], func(c rune) bool { return c == ';' || c == ',' }) {
				addr := strings.ToLower(inboxrules.ExtractAddress(part))
				if addr == "" || len(s.Accepted) > 0 && s.Accepted.Internal(addr) {
					continue
				}
				found[addr] = true
			}
		}
	}
	return sortedKeys(found)
}

// RelatedInput is what the tenant-wide look-ups answered.
type RelatedInput struct {
	// Target is the investigated user (object id and UPN); it is never related to itself.
	TargetID, TargetUPN string
	// SignInsFrom are the sign-ins of any user from each indicator address.
	SignInsFrom map[string][]graph.SignIn
	// ForwardingTo are the mailboxes forwarding to each external address.
	ForwardingTo map[string][]exchange.Mailbox
}

// Related lists the other users the indicators point at, by UPN, each with its reasons.
func Related(in RelatedInput) []runs.Related {
	why := map[string][]string{}
	add := func(user, reason string) {
		for _, r := range why[user] {
			if r == reason {
				return
			}
		}
		why[user] = append(why[user], reason)
	}
	self := func(id, upn string) bool {
		return id != "" && strings.EqualFold(id, in.TargetID) || upn != "" && strings.EqualFold(upn, in.TargetUPN)
	}
	for _, ip := range sortedMapKeys(in.SignInsFrom) {
		// One reason per user and address: the first successful sign-in, else the first
		// failed one (oldest first).
		ins := append([]graph.SignIn(nil), in.SignInsFrom[ip]...)
		sort.SliceStable(ins, func(i, j int) bool { return ins[i].Time.Before(ins[j].Time) })
		best := map[string]graph.SignIn{}
		var order []string
		for _, s := range ins {
			user := s.UPN
			if user == "" {
				user = s.UserID
			}
			if user == "" || self(s.UserID, s.UPN) {
				continue
			}
			prev, ok := best[user]
			if !ok {
				order = append(order, user)
			}
			if !ok || prev.ErrorCode != 0 && s.ErrorCode == 0 {
				best[user] = s
			}
		}
		for _, user := range order {
			s := best[user]
			if s.ErrorCode == 0 {
				add(strings.ToLower(user), fmt.Sprintf("signed in from %s, an indicator address, at %s", ip, stamp(s.Time)))
			} else {
				add(strings.ToLower(user), fmt.Sprintf("failed sign-in (error %d) from %s, an indicator address, at %s", s.ErrorCode, ip, stamp(s.Time)))
			}
		}
	}
	for _, addr := range sortedMapKeys(in.ForwardingTo) {
		for _, m := range in.ForwardingTo[addr] {
			user := m.UserPrincipalName
			if user == "" {
				user = m.PrimarySmtpAddress
			}
			if user == "" || self(m.ExternalDirectoryObjectID, m.UserPrincipalName) {
				continue
			}
			add(strings.ToLower(user), "mailbox forwards to "+addr+", where the investigated mailbox's mail was sent")
		}
	}
	out := make([]runs.Related, 0, len(why))
	for _, user := range sortedMapKeys(why) {
		out = append(out, runs.Related{User: user, Why: why[user]})
	}
	return out
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
