package tenantsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The audit sources investigate reads, in their real shapes (docs/simulator-fidelity.md,
// "Audit logs"): Graph auditLogs/signIns and auditLogs/directoryAudits (OData paging with
// an absolute nextLink, newest first), Exchange Search-UnifiedAuditLog (AuditData is a
// JSON document inside a string; SessionId/ReturnLargeSet rounds with ResultIndex and
// ResultCount) and Get-MessageTraceV2 (one row per recipient, at most 10 days per query,
// StartingRecipientAddress/EndDate to ask for the rows after a full answer).

// SignIn is one Entra ID sign-in.
type SignIn struct {
	ID            string // generated when empty
	UserID        string
	Time          time.Time
	App           string // appDisplayName
	ClientApp     string // clientAppUsed: "Browser", "Mobile Apps and Desktop clients", "IMAP4"...
	IP            string
	City, State   string
	Country       string // two letters
	ErrorCode     int    // 0: success; 50126: bad password; 50074: MFA required...
	FailureReason string
	Risk          string // riskLevelDuringSignIn: none (default), low, medium, high
	// NonInteractive: a sign-in a client made with a token on the user's behalf (a token
	// refreshed, or replayed): isInteractive false, signInEventTypes ["nonInteractiveUser"].
	// v1.0 does not list it; beta lists it when the filter asks for it.
	NonInteractive bool
	// SessionID (beta sessionId) and TokenID (beta uniqueTokenIdentifier); generated when
	// empty. The unified audit log's AppAccessContext carries the same values.
	SessionID, TokenID string
}

// DirectoryAudit is one Entra ID audit record.
type DirectoryAudit struct {
	ID           string // generated when empty
	Time         time.Time
	Activity     string // activityDisplayName, e.g. "User registered security info"
	Category     string // e.g. "UserManagement", "ApplicationManagement"
	Service      string // loggedByService, e.g. "Authentication Methods", "Core Directory"
	ResultReason string // e.g. "User registered Authenticator App with Notification and Code"
	InitiatorID  string // a user's object id ("" with InitiatorApp for an app)
	InitiatorUPN string
	InitiatorApp string
	IP           string // initiatedBy.user.ipAddress
	TargetID     string // the target user's (or app's) object id
	TargetName   string
	TargetType   string // "User", "ServicePrincipal"...
	// Modified are the first target's modifiedProperties (displayName, newValue as Entra ID
	// writes it, e.g. `"True"` or `["Mail.Read"]`).
	Modified [][2]string
	// MoreTargets are targetResources after the first (an app role assignment's client).
	MoreTargets []AuditTarget
}

// targets reports whether id is one of the record's targetResources.
func (a *DirectoryAudit) targets(id string) bool {
	if strings.EqualFold(a.TargetID, id) {
		return true
	}
	for _, t := range a.MoreTargets {
		if strings.EqualFold(t.ID, id) {
			return true
		}
	}
	return false
}

// AuditTarget is one more targetResource of a directory audit record.
type AuditTarget struct {
	ID, Name, Type string
	Modified       [][2]string
}

// AuditRecord is one unified audit log record of a mailbox change.
type AuditRecord struct {
	UserID     string // the UPN the record is for (UserIds)
	Time       time.Time
	Operation  string // "New-InboxRule", "Set-Mailbox", "UpdateInboxRules"...
	ClientIP   string // as Exchange writes it: "203.0.113.9:51234", "[2001:db8::9]:443"
	ObjectID   string
	Parameters [][2]string // Name/Value pairs of the cmdlet
	// SessionID and TokenID are written as AuditData.AppAccessContext AADSessionId and
	// UniqueTokenId (the sign-in's sessionId and uniqueTokenIdentifier) when set.
	SessionID, TokenID string
	// MailItemsAccessed records: MailAccessType "Bind" (Items messages opened) or "Sync"
	// (Folder downloaded whole), in Folder (default `\Inbox`).
	MailAccessType string
	Items          int
	Folder         string
}

// SentMessage is one message the user sent, with its recipients (one trace row each).
type SentMessage struct {
	Sender     string
	Recipients []string
	Time       time.Time
	Subject    string
	FromIP     string
}

// auditState holds the tenant's audit data. Every access holds Sim.mu.
type auditState struct {
	signIns  []*SignIn
	dirAudit []*DirectoryAudit
	records  []*AuditRecord
	messages []*SentMessage
	// signInsUnlicensed: the tenant has no Entra ID P1/P2, so sign-in logs answer 403.
	signInsUnlicensed bool
	// messageTraceSP: Microsoft's message trace application has a service principal, so
	// Graph's messageTraces answers (SetMessageTraceServicePrincipal).
	messageTraceSP bool
	// betaSignInsRefused: beta auditLogs/signIns answers 400 (see RefuseBetaSignIns).
	betaSignInsRefused bool
	// mailItemsNotAudited: the tenant's mailboxes do not audit MailItemsAccessed (no Audit
	// Premium or licence that records it): Get-Mailbox's AuditOwner lacks it and the
	// unified audit log holds no such record.
	mailItemsNotAudited bool
	sessions            map[string]*auditSession
	// ingestionOff: Get-AdminAuditLogConfig answers UnifiedAuditLogIngestionEnabled False.
	ingestionOff bool
	// timeouts: that many next Search-UnifiedAuditLog calls that find records answer as a
	// server time-out (only those asking for one of timeoutOps, when set).
	timeouts   int
	timeoutOps []string
}

// auditSession is one SessionId of Search-UnifiedAuditLog: each call with the session
// returns the next records; the pages of one call (nextLink) repeat its round.
type auditSession struct {
	round, next int
	timedOut    bool // this call's batch is answered as a server time-out
}

// AddSignIn records a sign-in.
func (s *Sim) AddSignIn(in SignIn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.ID == "" {
		in.ID = newGUID()
	}
	if in.SessionID == "" {
		in.SessionID = newGUID()
	}
	if in.TokenID == "" {
		in.TokenID = newTokenID()
	}
	s.tenant.audit.signIns = append(s.tenant.audit.signIns, &in)
}

// AddDirectoryAudit records a directory audit event.
func (s *Sim) AddDirectoryAudit(a DirectoryAudit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.ID == "" {
		a.ID = "Directory_" + newGUID()
	}
	s.tenant.audit.dirAudit = append(s.tenant.audit.dirAudit, &a)
}

// AddAuditRecord records a unified audit log record.
func (s *Sim) AddAuditRecord(r AuditRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.audit.records = append(s.tenant.audit.records, &r)
}

// AddSentMessage records a message the message trace shows.
func (s *Sim) AddSentMessage(m SentMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.audit.messages = append(s.tenant.audit.messages, &m)
}

// SetMailItemsAccessedAudited false makes the tenant one whose mailboxes do not record
// MailItemsAccessed: Get-Mailbox's AuditOwner, AuditDelegate and AuditAdmin lists lack it,
// and Search-UnifiedAuditLog finds no MailItemsAccessed record (none was written).
func (s *Sim) SetMailItemsAccessedAudited(audited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.audit.mailItemsNotAudited = !audited
}

// mailboxAuditActions are Get-Mailbox's AuditOwner, AuditDelegate and AuditAdmin: the
// default mailbox audit actions (Microsoft Purview "Manage mailbox auditing", default
// actions for E3/E5), MailItemsAccessed left out where the tenant does not record it.
func (t *tenant) mailboxAuditActions() map[string]any {
	owner := []string{"Update", "MoveToDeletedItems", "SoftDelete", "HardDelete", "UpdateFolderPermissions", "UpdateInboxRules", "UpdateCalendarDelegation", "ApplyRecord", "MailItemsAccessed", "Send"}
	delegate := []string{"Update", "MoveToDeletedItems", "SoftDelete", "HardDelete", "SendAs", "SendOnBehalf", "Create", "UpdateFolderPermissions", "UpdateInboxRules", "ApplyRecord", "MailItemsAccessed"}
	admin := []string{"Update", "MoveToDeletedItems", "SoftDelete", "HardDelete", "SendAs", "SendOnBehalf", "Create", "UpdateFolderPermissions", "UpdateInboxRules", "UpdateCalendarDelegation", "ApplyRecord", "MailItemsAccessed", "Send"}
	if t.audit.mailItemsNotAudited {
		drop := func(l []string) []string {
			return slices.DeleteFunc(l, func(a string) bool { return a == "MailItemsAccessed" || a == "Send" })
		}
		owner, delegate, admin = drop(owner), drop(delegate), drop(admin)
	}
	return map[string]any{"AuditEnabled": true, "AuditOwner": owner, "AuditDelegate": delegate, "AuditAdmin": admin,
		"DefaultAuditSet": []string{"Admin", "Delegate", "Owner"}, "AuditLogAgeLimit": "180.00:00:00"}
}

// RefuseBetaSignIns true makes beta auditLogs/signIns answer 400 to Tourniquet's filter, as
// a beta change could (beta is "subject to change"; the answer is a guess): the client then
// reads v1.0, interactive sign-ins only, and says so.
func (s *Sim) RefuseBetaSignIns(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.audit.betaSignInsRefused = refuse
}

// newTokenID is a uniqueTokenIdentifier as Entra ID writes it: 22 characters of base64url.
func newTokenID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SetSignInLogsLicensed false makes auditLogs/signIns answer 403
// Authentication_RequestFromNonPremiumTenantOrB2CTenant, as a tenant without Entra ID P1.
func (s *Sim) SetSignInLogsLicensed(licensed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.audit.signInsUnlicensed = !licensed
}

// SetUnifiedAuditLogIngestion false makes Get-AdminAuditLogConfig answer
// UnifiedAuditLogIngestionEnabled False, as after Set-AdminAuditLogConfig
// -UnifiedAuditLogIngestionEnabled $false. Records already added stay searchable (the log
// keeps what it recorded before); the test decides what was recorded.
func (s *Sim) SetUnifiedAuditLogIngestion(enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.audit.ingestionOff = !enabled
}

// TimeOutAuditSearchNext makes the next n Search-UnifiedAuditLog calls (each page of one
// call alike) answer their batch as the service does when the search timed out on its side:
// records whose ResultIndex is -1 and ResultCount 0. Public collectors (e.g.
// Microsoft-Extractor-Suite) read that as a time-out and search again with a new session.
// With operations, only the searches asking for one of them time out (concurrent searches
// for other operations are answered).
func (s *Sim) TimeOutAuditSearchNext(n int, operations ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant.audit.timeouts, s.tenant.audit.timeoutOps = n, operations
}

// getAdminAuditLogConfig answers Get-AdminAuditLogConfig: the organisation's one
// AdminAuditLogConfig object (the properties of Microsoft's cmdlet page that matter here).
func (s *Sim) getAdminAuditLogConfig(p exoParams) ([]any, *exoError) {
	if err := p.only("Identity", "DomainController"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return []any{map[string]any{
		"Identity": "Admin Audit Log Settings", "Name": "Admin Audit Log Settings",
		"AdminAuditLogEnabled": true, "AdminAuditLogCmdlets": []string{"*"}, "AdminAuditLogParameters": []string{"*"},
		"AdminAuditLogExcludedCmdlets": []string{}, "AdminAuditLogAgeLimit": "90.00:00:00", "LogLevel": "None", "TestCmdletLoggingEnabled": false,
		"UnifiedAuditLogIngestionEnabled": !s.tenant.audit.ingestionOff, "UnifiedAuditLogFirstOptInDate": "2024-01-15T10:00:00Z",
		"IsValid": true, "ObjectState": "Unchanged",
	}}, nil
}

const odataTime = "2006-01-02T15:04:05Z"

// How long the tenant keeps directory audit records (Microsoft Entra data retention: 30
// days with Entra ID P1 or P2, 7 days on Free).
const (
	DirectoryAuditRetention     = 30 * 24 * time.Hour
	FreeDirectoryAuditRetention = 7 * 24 * time.Hour
)

var (
	signInFilter = regexp.MustCompile(`^\s*(?:userId eq '([0-9A-Fa-f-]{36})'|ipAddress eq '([0-9A-Fa-f.:]+)')(?:\s+and\s+createdDateTime ge (\S+))?\s*$`)
	auditFilter  = regexp.MustCompile(`^\s*(?:initiatedBy/user/id eq '([0-9A-Fa-f-]{36})'|targetResources/any\((\w+):\s*(\w+)/id eq '([0-9A-Fa-f-]{36})'\))(?:\s+and\s+activityDateTime ge (\S+))?\s*$`)
)

// signInEventTypesClause takes the beta signInEventTypes clause off the call's $filter
// ("<rest> and (signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser'))",
// the form of the signIn resource's note, parenthesised or not) and answers the kinds it
// asks for; without one, interactive sign-ins only. The call it returns has the rest of the
// filter; c keeps the whole query for the nextLink.
func signInEventTypesClause(c *graphCall) (map[string]bool, *graphCall, *graphResult) {
	kinds := map[string]bool{"interactiveUser": true}
	for k, v := range c.query {
		if !strings.EqualFold(strings.TrimPrefix(k, "$"), "filter") || len(v) == 0 {
			continue
		}
		m := eventTypesClause.FindStringSubmatch(v[0])
		if m == nil {
			if strings.Contains(v[0], "signInEventTypes") {
				r := graphBadRequest("Invalid filter clause: the tenant simulator supports signInEventTypes only as \"and (signInEventTypes/any(t: t eq '...' or t eq '...'))\" at the end.")
				return nil, nil, &r
			}
			return kinds, c, nil
		}
		kinds = map[string]bool{}
		for _, part := range strings.Split(m[2], " or ") {
			pm := eventTypeEq.FindStringSubmatch(strings.TrimSpace(part))
			if pm == nil || pm[1] != m[1] {
				r := graphBadRequest("Invalid filter clause: '" + strings.TrimSpace(part) + "' is not a comparison of the lambda variable '" + m[1] + "'.")
				return nil, nil, &r
			}
			kinds[pm[2]] = true
		}
		q := url.Values{}
		for qk, qv := range c.query {
			q[qk] = qv
		}
		q[k] = []string{strings.TrimSpace(v[0][:len(v[0])-len(m[0])])}
		stripped := *c
		stripped.query = q
		return kinds, &stripped, nil
	}
	return kinds, c, nil
}

var (
	eventTypesClause = regexp.MustCompile(`\s+and\s+\(?signInEventTypes/any\((\w+):\s*((?:\w+ eq '\w+')(?:\s+or\s+\w+ eq '\w+')*)\)\)?\s*$`)
	eventTypeEq      = regexp.MustCompile(`^(\w+) eq '(\w+)'$`)
)

// auditQuery reads $filter (required to match pattern), $top and $skiptoken.
func auditQuery(c *graphCall, pattern *regexp.Regexp, entity string) ([]string, queryOptions, *graphResult) {
	filter := ""
	rest := c.query
	for k, v := range c.query {
		if strings.EqualFold(strings.TrimPrefix(k, "$"), "filter") {
			filter = v[0]
			rest = cloneWithout(c.query, k)
		}
	}
	spec := querySpec{entity: entity, paged: true}
	switch entity {
	case "microsoft.graph.exchangeMessageTrace":
		spec.maxTop = 5000 // List messageTraces: $top 1 to 5000
	case "microsoft.graph.signIn":
		spec.maxTop = 1000 // List signIns: "the maximum and default page size is 1,000 objects"
	}
	opts, bad := parseQuery(rest, spec)
	if bad != nil {
		return nil, opts, bad
	}
	if filter == "" {
		return nil, opts, nil
	}
	m := pattern.FindStringSubmatch(filter)
	if m == nil {
		r := graphBadRequest("Invalid filter clause: the tenant simulator supports for " + entity + " only the filters Tourniquet sends.")
		return nil, opts, &r
	}
	return m, opts, nil
}

func cloneWithout(q map[string][]string, key string) map[string][]string {
	out := map[string][]string{}
	for k, v := range q {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func parseODataTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func (s *Sim) listSignIns(c *graphCall, _ []string) graphResult {
	// Beta takes a signInEventTypes clause; without one it lists interactive sign-ins only,
	// as v1.0 always does (signIn resource, beta).
	kinds, filtered := map[string]bool{"interactiveUser": true}, c
	if c.beta() {
		var bad *graphResult
		if kinds, filtered, bad = signInEventTypesClause(c); bad != nil {
			return *bad
		}
	}
	m, opts, bad := auditQuery(filtered, signInFilter, "microsoft.graph.signIn")
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenant.audit.signInsUnlicensed {
		return graphErr(http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
			"Neither tenant is B2C or tenant doesn't have premium license")
	}
	if c.beta() && s.tenant.audit.betaSignInsRefused {
		return graphBadRequest("Invalid filter clause: signInEventTypes is not supported.")
	}
	var since time.Time
	if m != nil {
		var ok bool
		if since, ok = parseODataTime(m[3]); !ok {
			return graphBadRequest("Invalid filter clause: '" + m[3] + "' is not a DateTimeOffset.")
		}
	}
	var found []*SignIn
	for _, in := range s.tenant.audit.signIns {
		switch {
		case in.Time.Before(since):
			continue
		case m == nil:
		case m[1] != "" && !strings.EqualFold(in.UserID, m[1]):
			continue
		case m[2] != "" && !sameIP(in.IP, m[2]):
			continue
		}
		if in.NonInteractive && !kinds["nonInteractiveUser"] || !in.NonInteractive && !kinds["interactiveUser"] {
			continue
		}
		found = append(found, in)
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Time.After(found[j].Time) })
	items := make([]map[string]any, 0, len(found))
	for _, in := range found {
		item := s.tenant.signInItem(in)
		if c.beta() {
			kind := "interactiveUser"
			if in.NonInteractive {
				kind = "nonInteractiveUser"
			}
			item["signInEventTypes"], item["sessionId"], item["uniqueTokenIdentifier"] = []string{kind}, in.SessionID, in.TokenID
		}
		items = append(items, item)
	}
	return s.pageItems(c, opts, "auditLogs/signIns", items)
}

// sameIP compares two addresses as addresses ("2001:DB8::7" is "2001:db8::7").
func sameIP(a, b string) bool {
	x, y := net.ParseIP(strings.TrimSpace(a)), net.ParseIP(strings.TrimSpace(b))
	if x == nil || y == nil {
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return x.Equal(y)
}

func (t *tenant) signInItem(in *SignIn) map[string]any {
	upn, name := "", ""
	if u := t.user(in.UserID); u != nil {
		upn, name = u.UserPrincipalName, u.DisplayName
	}
	risk := in.Risk
	if risk == "" {
		risk = "none"
	}
	failure := "Other."
	if in.ErrorCode != 0 {
		failure = in.FailureReason
	}
	ca := "success"
	if in.ErrorCode != 0 {
		ca = "notApplied"
	}
	return map[string]any{
		"id": in.ID, "createdDateTime": in.Time.UTC().Format(odataTime),
		"userDisplayName": name, "userPrincipalName": upn, "userId": in.UserID,
		"appId": "00000002-0000-0ff1-ce00-000000000000", "appDisplayName": in.App,
		"ipAddress": in.IP, "clientAppUsed": in.ClientApp, "correlationId": newGUID(),
		"conditionalAccessStatus": ca, "isInteractive": !in.NonInteractive,
		"riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": risk, "riskState": "none",
		"riskEventTypes": []string{}, "riskEventTypes_v2": []string{},
		"resourceDisplayName": "Office 365 Exchange Online", "resourceId": "00000002-0000-0ff1-ce00-000000000000",
		"status":       map[string]any{"errorCode": in.ErrorCode, "failureReason": failure, "additionalDetails": nil},
		"deviceDetail": map[string]any{"deviceId": "", "displayName": "", "operatingSystem": "Windows10", "browser": "Edge 120.0.0", "isCompliant": false, "isManaged": false, "trustType": ""},
		"location": map[string]any{"city": in.City, "state": in.State, "countryOrRegion": in.Country,
			"geoCoordinates": map[string]any{"altitude": nil, "latitude": 0, "longitude": 0}},
		"appliedConditionalAccessPolicies": []any{},
	}
}

func (s *Sim) listDirectoryAudits(c *graphCall, _ []string) graphResult {
	m, opts, bad := auditQuery(c, auditFilter, "microsoft.graph.directoryAudit")
	if bad != nil {
		return *bad
	}
	if m != nil && m[2] != "" && m[2] != m[3] {
		return graphBadRequest("Invalid filter clause: the lambda variable '" + m[3] + "' is not defined.")
	}
	var since time.Time
	if m != nil {
		var ok bool
		if since, ok = parseODataTime(m[5]); !ok {
			return graphBadRequest("Invalid filter clause: '" + m[5] + "' is not a DateTimeOffset.")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The tenant keeps audit logs 30 days with Entra ID P1/P2, 7 days on Free (Microsoft
	// Entra data retention page); older records are not served.
	kept := time.Now().Add(-DirectoryAuditRetention)
	if s.tenant.audit.signInsUnlicensed {
		kept = time.Now().Add(-FreeDirectoryAuditRetention)
	}
	var found []*DirectoryAudit
	for _, a := range s.tenant.audit.dirAudit {
		switch {
		case a.Time.Before(since), a.Time.Before(kept):
			continue
		case m == nil:
		case m[1] != "" && !strings.EqualFold(a.InitiatorID, m[1]):
			continue
		case m[4] != "" && !a.targets(m[4]):
			continue
		}
		found = append(found, a)
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Time.After(found[j].Time) })
	items := make([]map[string]any, 0, len(found))
	for _, a := range found {
		items = append(items, directoryAuditItem(a))
	}
	return s.pageItems(c, opts, "auditLogs/directoryAudits", items)
}

func directoryAuditItem(a *DirectoryAudit) map[string]any {
	initiator := map[string]any{"app": nil, "user": nil}
	if a.InitiatorID != "" || a.InitiatorUPN != "" {
		initiator["user"] = map[string]any{"id": a.InitiatorID, "displayName": nil, "userPrincipalName": a.InitiatorUPN, "ipAddress": a.IP, "userType": "Member", "homeTenantId": nil, "homeTenantName": nil}
	}
	if a.InitiatorApp != "" {
		initiator["app"] = map[string]any{"appId": nil, "displayName": a.InitiatorApp, "servicePrincipalId": nil, "servicePrincipalName": nil}
	}
	targets := []any{}
	for _, t := range append([]AuditTarget{{ID: a.TargetID, Name: a.TargetName, Type: a.TargetType, Modified: a.Modified}}, a.MoreTargets...) {
		modified := []any{}
		for _, kv := range t.Modified {
			modified = append(modified, map[string]any{"displayName": kv[0], "oldValue": nil, "newValue": kv[1]})
		}
		target := map[string]any{"id": t.ID, "displayName": nilIfEmpty(t.Name), "type": t.Type, "userPrincipalName": nil, "groupType": nil, "modifiedProperties": modified}
		if t.Type == "User" {
			target["userPrincipalName"] = nilIfEmpty(t.Name)
			target["displayName"] = nil
		}
		targets = append(targets, target)
	}
	return map[string]any{
		"id": a.ID, "category": a.Category, "correlationId": newGUID(), "result": "success", "resultReason": a.ResultReason,
		"activityDisplayName": a.Activity, "activityDateTime": a.Time.UTC().Format(odataTime),
		"loggedByService": a.Service, "operationType": "Add", "initiatedBy": initiator,
		"targetResources": targets, "additionalDetails": []any{},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// exoTime reads a StartDate/EndDate parameter (RFC 3339 or a date Exchange reads).
func exoTime(p exoParams, name string) (time.Time, bool, *exoError) {
	v, present, err := p.str(name)
	if err != nil || !present || v == "" {
		return time.Time{}, false, err
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "01/02/2006 15:04:05", "01/02/2006"} {
		if t, perr := time.Parse(layout, v); perr == nil {
			return t.UTC(), true, nil
		}
	}
	return time.Time{}, true, exoInvalidArgument("Cannot process argument transformation on parameter '" + name + "'. Cannot convert value \"" + v + "\" to type \"Microsoft.Exchange.ExchangeSystem.ExDateTime\".")
}

func exoInt(p exoParams, name string, def int) (int, *exoError) {
	raw, ok := p.raw[strings.ToLower(name)]
	if !ok {
		return def, nil
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if v, err := strconv.Atoi(s); err == nil {
			return v, nil
		}
	}
	return 0, exoInvalidArgument("Cannot process argument transformation on parameter '" + name + "'. Cannot convert value to type System.Int32.")
}

func exoStrings(p exoParams, name string) ([]string, *exoError) {
	raw, ok := p.raw[strings.ToLower(name)]
	if !ok {
		return nil, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return strings.Split(one, ","), nil
	}
	return nil, exoInvalidArgument("Cannot process argument transformation on parameter '" + name + "'. A list of strings is expected.")
}

// searchUnifiedAuditLog answers Search-UnifiedAuditLog: without a session at most
// ResultSize (default 100) records; with SessionId and SessionCommand ReturnLargeSet, each
// call of the session the next ResultSize (at most 5000).
func (s *Sim) searchUnifiedAuditLog(p exoParams) ([]any, *exoError) {
	if err := p.only("StartDate", "EndDate", "UserIds", "Operations", "RecordType", "ResultSize", "SessionId", "SessionCommand", "ObjectIds", "IPAddresses", "FreeText", "Formatted"); err != nil {
		return nil, err
	}
	start, okStart, err := exoTime(p, "StartDate")
	if err != nil {
		return nil, err
	}
	end, okEnd, err := exoTime(p, "EndDate")
	if err != nil {
		return nil, err
	}
	if !okStart || !okEnd {
		return nil, exoInvalidArgument("Cannot process command because of one or more missing mandatory parameters: StartDate EndDate.")
	}
	size, err := exoInt(p, "ResultSize", 100)
	if err != nil {
		return nil, err
	}
	if size < 1 || size > 5000 {
		return nil, exoInvalidArgument("Cannot validate argument on parameter 'ResultSize'. The " + strconv.Itoa(size) + " argument is greater than the maximum allowed range of 5000.")
	}
	users, err := exoStrings(p, "UserIds")
	if err != nil {
		return nil, err
	}
	ops, err := exoStrings(p, "Operations")
	if err != nil {
		return nil, err
	}
	session, _, err := p.str("SessionId")
	if err != nil {
		return nil, err
	}
	command, _, err := p.str("SessionCommand")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*AuditRecord
	a := &s.tenant.audit
	for _, r := range s.tenant.audit.records {
		if r.Time.Before(start) || r.Time.After(end) {
			continue
		}
		if len(users) > 0 && !containsFold(users, r.UserID) || len(ops) > 0 && !containsFold(ops, r.Operation) {
			continue
		}
		if strings.EqualFold(r.Operation, "MailItemsAccessed") && a.mailItemsNotAudited {
			continue // never recorded
		}
		found = append(found, r)
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Time.After(found[j].Time) })
	from := 0
	timedOut := false
	timeouts := a.timeouts
	if len(a.timeoutOps) > 0 && !slices.ContainsFunc(ops, func(op string) bool { return containsFold(a.timeoutOps, op) }) {
		timeouts = 0 // not a search the time-outs are for
	}
	if session != "" && strings.EqualFold(command, "ReturnLargeSet") {
		if a.sessions == nil {
			a.sessions = map[string]*auditSession{}
		}
		st := a.sessions[session]
		if st == nil {
			st = &auditSession{}
			a.sessions[session] = st
		}
		if p.skip == 0 { // a new call of the session, not a page of the previous one
			st.round = st.next
			st.next = min(st.round+size, len(found))
			// A time-out shows only in a batch with records (ResultIndex -1 on each); an
			// empty search cannot be told from one that timed out, so it takes none.
			st.timedOut = timeouts > 0 && st.round < len(found)
			if st.timedOut {
				a.timeouts--
			}
		}
		from, timedOut = st.round, st.timedOut
	} else if p.skip == 0 && timeouts > 0 && len(found) > 0 {
		a.timeouts--
		timedOut = true
	}
	to := min(from+size, len(found))
	out := make([]any, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		if timedOut {
			out = append(out, auditRecordItem(found[i], -1, 0))
			continue
		}
		out = append(out, auditRecordItem(found[i], i+1, len(found)))
	}
	return out, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}

func auditRecordItem(r *AuditRecord, index, count int) map[string]any {
	params := make([]map[string]string, 0, len(r.Parameters))
	for _, kv := range r.Parameters {
		params = append(params, map[string]string{"Name": kv[0], "Value": kv[1]})
	}
	id := newGUID()
	recordType, workload := "ExchangeAdmin", "Exchange"
	data := map[string]any{
		"CreationTime": r.Time.UTC().Format("2006-01-02T15:04:05"), "Id": id, "Operation": r.Operation,
		"OrganizationId": "00000000-0000-0000-0000-0000000000aa", "RecordType": 1, "ResultStatus": "True",
		"UserKey": r.UserID, "UserType": 2, "Version": 1, "Workload": workload, "ClientIP": r.ClientIP,
		"ObjectId": r.ObjectID, "UserId": r.UserID, "AppId": "", "ExternalAccess": false,
		"OrganizationName": "contoso.onmicrosoft.com", "OriginatingServer": exchangeServer, "Parameters": params,
	}
	switch r.Operation {
	case "UpdateInboxRules", "AddFolderPermissions", "ModifyFolderPermissions", "RemoveFolderPermissions":
		// A mailbox audit record (Outlook's rule or folder permission changes):
		// ClientIPAddress, OperationProperties, no Parameters.
		recordType = "ExchangeItem"
		delete(data, "ClientIP")
		data["RecordType"] = 2
		data["ClientIPAddress"] = r.ClientIP
		data["ClientInfoString"] = "Client=MSExchangeRPC"
		data["OperationProperties"] = params
		delete(data, "Parameters")
	case "MailItemsAccessed":
		// An aggregated mailbox audit record (Purview "Use MailItemsAccessed to investigate
		// compromised accounts"): MailAccessType Bind with the items opened in each folder,
		// or Sync of a whole folder; SessionId is Exchange's session, AppAccessContext the
		// Entra ID one.
		recordType = "ExchangeItemAggregated"
		delete(data, "ClientIP")
		delete(data, "Parameters")
		data["RecordType"] = 50
		data["ClientIPAddress"] = r.ClientIP
		data["ClientInfoString"] = "Client=OWA;Action=ViaProxy"
		data["LogonType"], data["InternalLogonType"] = 0, 0
		data["MailboxOwnerUPN"] = r.UserID
		access := r.MailAccessType
		if access == "" {
			access = "Bind"
		}
		data["OperationProperties"] = []map[string]string{{"Name": "MailAccessType", "Value": access}, {"Name": "IsThrottled", "Value": "False"}}
		data["SessionId"] = newGUID()
		folder := r.Folder
		if folder == "" {
			folder = `\Inbox`
		}
		f := map[string]any{"Id": "LgAAAAB" + randomHex(12), "Path": folder}
		count := 1
		if access == "Bind" {
			items := []any{}
			for i := 0; i < max(r.Items, 1); i++ {
				items = append(items, map[string]any{"Id": "RgAAAAB" + randomHex(16), "InternetMessageId": "<" + randomHex(8) + "@mail.example>", "SizeInBytes": 18342})
			}
			f["FolderItems"], count = items, len(items)
		}
		data["Folders"], data["OperationCount"] = []any{f}, count
	}
	if r.SessionID != "" || r.TokenID != "" {
		data["AppAccessContext"] = map[string]any{"AADSessionId": r.SessionID, "UniqueTokenId": r.TokenID,
			"IssuedAtTime": r.Time.Add(-5 * time.Minute).UTC().Format("2006-01-02T15:04:05")}
	}
	auditData, _ := json.Marshal(data)
	return map[string]any{
		"RecordType": recordType, "CreationDate": r.Time.UTC().Format(exchangeTimeLayout), "UserIds": r.UserID,
		"Operations": r.Operation, "AuditData": string(auditData), "ResultIndex": index, "ResultCount": count,
		"Identity": id, "IsValid": true, "ObjectState": "Unchanged",
	}
}

// getMessageTraceV2 answers Get-MessageTraceV2: rows newest first, one per recipient,
// at most ResultSize (default 1000, at most 5000), over at most 10 days.
func (s *Sim) getMessageTraceV2(p exoParams) ([]any, *exoError) {
	if err := p.only("SenderAddress", "RecipientAddress", "StartDate", "EndDate", "ResultSize", "StartingRecipientAddress", "Status", "MessageId", "MessageTraceId", "FromIP", "ToIP", "Subject", "SubjectFilterType"); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	start, okStart, err := exoTime(p, "StartDate")
	if err != nil {
		return nil, err
	}
	end, okEnd, err := exoTime(p, "EndDate")
	if err != nil {
		return nil, err
	}
	if !okEnd {
		end = now
	}
	if !okStart {
		start = end.Add(-48 * time.Hour)
	}
	if end.Sub(start) > 10*24*time.Hour+time.Minute {
		return nil, exoInvalidArgument("The time period between StartDate and EndDate can't be longer than 10 days.")
	}
	size, err := exoInt(p, "ResultSize", 1000)
	if err != nil {
		return nil, err
	}
	if size < 1 || size > 5000 {
		return nil, exoInvalidArgument("Cannot validate argument on parameter 'ResultSize'. The argument must be between 1 and 5000.")
	}
	senders, err := exoStrings(p, "SenderAddress")
	if err != nil {
		return nil, err
	}
	startingRecipient, _, err := p.str("StartingRecipientAddress")
	if err != nil {
		return nil, err
	}
	rows := s.traceRows(senders, start, end)
	out := []any{}
	for _, r := range rows {
		if startingRecipient != "" && r.when.Equal(end) && r.to <= strings.ToLower(startingRecipient) {
			continue // already answered: the caller asks for the rows after this one
		}
		if len(out) == size {
			break
		}
		out = append(out, map[string]any{
			"Organization": "contoso.onmicrosoft.com", "MessageId": "<" + r.id + "@mail.example>",
			"Received": r.when.Format("2006-01-02T15:04:05.0000000"), "SenderAddress": r.m.Sender, "RecipientAddress": r.to,
			"Subject": r.m.Subject, "Status": "Delivered", "ToIP": nil, "FromIP": nilIfEmpty(r.m.FromIP),
			"Size": 18342, "MessageTraceId": r.id, "StartDate": start.Format(exchangeTimeLayout), "EndDate": end.Format(exchangeTimeLayout), "Index": len(out),
		})
	}
	return out, nil
}

// traceID is a stable MessageTraceId for the i-th message.
func traceID(i int) string {
	return "4b1c3f2e-0000-4000-8000-" + strings.Repeat("0", 12-len(strconv.Itoa(i))) + strconv.Itoa(i)
}

// traceRow is one recipient of one sent message, as both message traces list them
// (Get-MessageTraceV2 and Graph's messageTraces): newest first, then by recipient.
type traceRow struct {
	m    *SentMessage
	to   string
	id   string
	when time.Time
}

// traceRows lists the recipients of the messages sent by senders (every sender when empty)
// between start and end, newest first.
func (s *Sim) traceRows(senders []string, start, end time.Time) []traceRow {
	s.mu.Lock()
	var rows []traceRow
	for i, m := range s.tenant.audit.messages {
		if len(senders) > 0 && !containsFold(senders, m.Sender) || m.Time.Before(start) || m.Time.After(end) {
			continue
		}
		for _, to := range m.Recipients {
			rows = append(rows, traceRow{m: m, to: strings.ToLower(to), id: traceID(i), when: m.Time.UTC()})
		}
	}
	s.mu.Unlock()
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].when.Equal(rows[j].when) {
			return rows[i].when.After(rows[j].when)
		}
		return rows[i].to < rows[j].to
	})
	return rows
}
