package tenantsim

import (
	"net/http"
	"regexp"
	"time"
)

// Graph's message trace, v1.0 GET admin/exchange/tracing/messageTraces (List
// messageTraces; exchangeMessageTrace resource): the rows of the same sent messages
// Get-MessageTraceV2 answers, one per recipient, newest first, in Graph's shape. The
// filter is receivedDateTime ge/le (both bounds, at most 10 days apart, the start at most
// 90 days back, the end not in the future), optionally with senderAddress eq; $top 1 to
// 5000 (default 1000 at Graph, the simulator's page size here). Before Microsoft's
// message trace application has a service principal in the tenant (the default here, as
// in a tenant nobody prepared) every call answers 401 with the text public reports quote.

// MessageTraceAppID is the application id of Microsoft's message trace application.
const MessageTraceAppID = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"

// SetMessageTraceServicePrincipal says whether Microsoft's message trace application has
// a service principal in the tenant (New-MgServicePrincipal -AppId 8bd644d1-...): without
// one (the default) Graph's messageTraces answers 401; with one it answers the trace.
func (s *Sim) SetMessageTraceServicePrincipal(provisioned bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.audit.messageTraceSP = provisioned
}

var messageTraceFilter = regexp.MustCompile(`^\s*(?:senderAddress eq '([^']+)' and\s+)?receivedDateTime ge (\S+) and receivedDateTime le (\S+)\s*$`)

func (s *Sim) listMessageTraces(c *graphCall, _ []string) graphResult {
	s.mu.Lock()
	provisioned := s.tenant.audit.messageTraceSP
	s.mu.Unlock()
	if !provisioned {
		return graphErr(http.StatusUnauthorized, "InvalidAuthenticationToken",
			"Service principal-less authentication failed: The service principal for App ID "+MessageTraceAppID+
				" was not found. Please create a service principal for this app in your tenant. Provisioning may take several hours to complete.")
	}
	m, opts, bad := auditQuery(c, messageTraceFilter, "microsoft.graph.exchangeMessageTrace")
	if bad != nil {
		return *bad
	}
	now := time.Now().UTC()
	start, end := now.Add(-48*time.Hour), now // the documented default: the last 48 hours
	sender := ""
	if m != nil {
		sender = m[1]
		var ok1, ok2 bool
		start, ok1 = parseODataTime(m[2])
		end, ok2 = parseODataTime(m[3])
		if !ok1 || !ok2 {
			return graphBadRequest("Invalid filter clause: receivedDateTime must be an ISO 8601 date and time (YYYY-MM-DDThh:mm:ssZ).")
		}
	}
	switch {
	case end.Sub(start) > 10*24*time.Hour:
		return graphBadRequest("The time interval between the start and end of receivedDateTime must not exceed 10 days.")
	case start.Before(now.Add(-90 * 24 * time.Hour)):
		return graphBadRequest("The start of receivedDateTime must not be more than 90 days before the current date.")
	case end.After(now.Add(time.Minute)):
		return graphBadRequest("The end of receivedDateTime must not be later than the current date.")
	case opts.top > 5000:
		return graphBadRequest("$top must be between 1 and 5000.")
	}
	var senders []string
	if sender != "" {
		senders = []string{sender}
	}
	rows := s.traceRows(senders, start, end)
	items := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		items = append(items, map[string]any{
			"id": r.id, "senderAddress": r.m.Sender, "recipientAddress": r.to, "messageId": "<" + r.id + "@mail.example>",
			"receivedDateTime": r.when.Format(odataTime), "subject": r.m.Subject, "size": 18342,
			"fromIP": r.m.FromIP, "toIP": "", "status": "delivered",
		})
	}
	return s.pageItems(c, opts, "admin/exchange/tracing/messageTraces", items)
}
