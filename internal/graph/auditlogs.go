package graph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// SignInLicenceRequired is the code Graph answers (403) for sign-in logs in a tenant
// without Entra ID P1 or P2: "Neither tenant is B2C or tenant doesn't have premium
// license" (microsoftgraph/microsoft-graph-docs-contrib#7276, turbot/steampipe-plugin-azuread#98).
const SignInLicenceRequired = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"

// SignIn is one Entra ID sign-in of a user (auditLogs/signIns).
type SignIn struct {
	ID            string
	UserID        string    // userId
	UPN           string    // userPrincipalName
	Time          time.Time // UTC
	App           string    // appDisplayName
	ClientApp     string    // clientAppUsed ("Browser", "IMAP4", ...)
	IP            string    // ipAddress
	City, State   string
	Country       string // countryOrRegion, two letters
	ErrorCode     int    // status.errorCode, 0 for success
	FailureReason string
	Risk          string // riskLevelDuringSignIn
	// NonInteractive: a sign-in the client made with a token on the user's behalf
	// (isInteractive false, signInEventTypes nonInteractiveUser): token refreshes, and a
	// stolen token replayed.
	NonInteractive bool
	CorrelationID  string // correlationId
	// SessionID and TokenID are the beta signIn's sessionId (the session of the root
	// interactive sign-in) and uniqueTokenIdentifier (the token issued); the unified audit
	// log's AppAccessContext carries the same values as AADSessionId and UniqueTokenId.
	// Empty from the v1.0 endpoint, which has neither.
	SessionID, TokenID string
}

// DirectoryAudit is one Entra ID audit record (auditLogs/directoryAudits).
type DirectoryAudit struct {
	ID           string
	Time         time.Time // UTC
	Activity     string    // activityDisplayName, e.g. "User registered security info"
	Category     string
	Service      string // loggedByService
	Result       string // success | failure | ...
	ResultReason string
	InitiatorID  string // initiatedBy.user.id
	InitiatorUPN string
	InitiatorApp string // initiatedBy.app.displayName
	IP           string // initiatedBy.user.ipAddress
	Targets      []string
	// Resources are the targetResources with their ids, types and modified properties.
	Resources []AuditResource
}

// AuditResource is one targetResource of a directory audit record.
type AuditResource struct {
	ID   string
	Type string // "User", "ServicePrincipal", "Group"...
	Name string // displayName, or userPrincipalName for a user
	// Modified holds each modifiedProperty's newValue by displayName, with the JSON quoting
	// and brackets Entra ID writes around it taken off ("\"True\"" reads True).
	Modified map[string]string
}

// AuditValue takes off the quoting Entra ID writes around a modifiedProperty's value:
// "\"True\"" and "[\"True\"]" read True.
func AuditValue(raw string) string {
	v := strings.TrimSpace(raw)
	for {
		trimmed := strings.TrimSpace(v)
		switch {
		case len(trimmed) >= 2 && trimmed[0] == '"' && trimmed[len(trimmed)-1] == '"':
			v = trimmed[1 : len(trimmed)-1]
		case len(trimmed) >= 2 && trimmed[0] == '[' && trimmed[len(trimmed)-1] == ']' && strings.Count(trimmed, "[") == 1:
			v = trimmed[1 : len(trimmed)-1]
		default:
			return strings.ReplaceAll(trimmed, `\"`, `"`)
		}
	}
}

// SignIns lists the sign-ins of the user since the given time, every page. The filter is
// built from a validated GUID and a formatted time only.
func (c *Client) SignIns(ctx context.Context, userID string, since time.Time) ([]SignIn, error) {
	const op = "SignIns"
	if !ValidID(userID) {
		return nil, invalid(op, "user id", userID)
	}
	filter := fmt.Sprintf("userId eq '%s' and createdDateTime ge %s", userID, since.UTC().Format(time.RFC3339))
	builder := c.sdk.AuditLogs().SignIns()
	found, err := listAll[models.SignInable](ctx, c, op,
		func(ctx context.Context) (models.SignInCollectionResponseable, error) {
			return builder.Get(ctx, &auditlogs.SignInsRequestBuilderGetRequestConfiguration{
				QueryParameters: &auditlogs.SignInsRequestBuilderGetQueryParameters{Filter: &filter}})
		},
		func(ctx context.Context, link string) (models.SignInCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	return toSignIns(found), nil
}

// SignInsFromIP lists the sign-ins of any user from one address since the given time:
// one page of at most top, newest first (the related-users look-up is bounded by design).
// more says the service had further pages. The filter is built from a parsed IP address
// and a formatted time only.
func (c *Client) SignInsFromIP(ctx context.Context, ip string, since time.Time, top int) (found []SignIn, more bool, err error) {
	const op = "SignInsFromIP"
	addr := net.ParseIP(strings.TrimSpace(ip))
	if addr == nil {
		return nil, false, invalid(op, "IP address", ip)
	}
	filter := fmt.Sprintf("ipAddress eq '%s' and createdDateTime ge %s", addr.String(), since.UTC().Format(time.RFC3339))
	size := int32(max(1, min(top, 1000)))
	var page models.SignInCollectionResponseable
	err = c.call(ctx, op, func(ctx context.Context) error {
		var err error
		page, err = c.sdk.AuditLogs().SignIns().Get(ctx, &auditlogs.SignInsRequestBuilderGetRequestConfiguration{
			QueryParameters: &auditlogs.SignInsRequestBuilderGetQueryParameters{Filter: &filter, Top: &size}})
		return err
	})
	if err != nil || page == nil {
		return nil, false, err
	}
	return toSignIns(page.GetValue()), deref(page.GetOdataNextLink()) != "", nil
}

// SignInsRead is what UserSignIns read.
type SignInsRead struct {
	SignIns []SignIn
	// NonInteractive: the beta endpoint answered, so the listing holds non-interactive
	// sign-ins as well as the interactive ones (all of them unless NonInteractiveCut says).
	NonInteractive bool
	// NonInteractiveCut says why only the newest non-interactive sign-ins were read (the
	// page cap, or the caller's deadline); "" when all were.
	NonInteractiveCut string
	// BetaError is why the beta endpoint was not used (its answer), nil when it was; the
	// listing then holds the interactive sign-ins of v1.0 only.
	BetaError error
	// NonInteractiveErr is why the non-interactive listing stopped short when the
	// interactive one answered (its error, or the caller's deadline), nil when it ended or
	// the page cap cut it: a caller that reads again from the same time (the eviction
	// watch) can tell a listing that may answer next time from one cut by design.
	NonInteractiveErr error
}

// The beta filter clauses of each listing: without one the endpoint answers interactive
// sign-ins only (signIn resource, beta: "This API returns only interactive sign-ins unless
// you set an explicit filter"; signInEventTypes supports $filter eq and any()).
const (
	interactiveSignIns    = "(signInEventTypes/any(t: t eq 'interactiveUser'))"
	nonInteractiveSignIns = "(signInEventTypes/any(t: t eq 'nonInteractiveUser'))"
	// signInPage is the beta listing's page size: its maximum and default (List signIns).
	signInPage = 1000
)

// maxNonInteractivePages bounds the non-interactive listing (20,000 sign-ins): a client
// refreshes its token about every hour, so a busy user has thousands a month; the newest
// come first. A variable for tests.
var maxNonInteractivePages = 20

// UserSignIns lists the user's sign-ins since the given time from the beta endpoint, two
// listings at once: the interactive ones, every page, and the non-interactive ones (a
// stolen token replayed shows only there), newest first, at most maxNonInteractivePages
// pages and what arrived before ctx ended (NonInteractiveCut says so). Beta items carry
// sessionId and uniqueTokenIdentifier, which v1.0 lacks. When beta refuses (an error
// answer other than the licence error, which v1.0 would answer alike, or an expired token)
// the interactive sign-ins of v1.0 are read instead and BetaError says why.
func (c *Client) UserSignIns(ctx context.Context, userID string, since time.Time) (SignInsRead, error) {
	return c.UserSignInsUpTo(ctx, userID, since, maxNonInteractivePages)
}

// UserSignInsUpTo is UserSignIns with its own cap on the non-interactive pages (at least
// one, at most maxNonInteractivePages): the eviction watch reads a few minutes of them at
// every check and bounds each check's cost lower.
func (c *Client) UserSignInsUpTo(ctx context.Context, userID string, since time.Time, nonInteractivePages int) (SignInsRead, error) {
	const op = "UserSignIns"
	nonInteractivePages = max(1, min(nonInteractivePages, maxNonInteractivePages))
	if !ValidID(userID) {
		return SignInsRead{}, invalid(op, "user id", userID)
	}
	beta, ok := c.betaRoot()
	if !ok {
		found, err := c.SignIns(ctx, userID, since)
		return SignInsRead{SignIns: found, BetaError: &Error{Op: op, Message: "the Graph root " + c.baseURL + " has no beta counterpart"}}, err
	}
	type listing struct {
		found    []SignIn
		complete bool
		err      error
	}
	nonInteractive := make(chan listing, 1)
	go func() {
		found, complete, err := c.betaSignIns(ctx, op, beta, userID, since, nonInteractiveSignIns, nonInteractivePages)
		nonInteractive <- listing{found, complete, err}
	}()
	interactive, _, err := c.betaSignIns(ctx, op, beta, userID, since, interactiveSignIns, maxPages)
	non := <-nonInteractive
	if err != nil {
		if !betaRefused(err) || ctx.Err() != nil {
			return SignInsRead{}, err
		}
		v1, v1Err := c.SignIns(ctx, userID, since)
		return SignInsRead{SignIns: v1, BetaError: err}, v1Err
	}
	read := SignInsRead{SignIns: interactive, NonInteractive: true}
	switch {
	case non.err != nil && ctx.Err() != nil:
		read.NonInteractiveCut = fmt.Sprintf("only the newest %d non-interactive sign-ins were read before the time allowed ran out", len(non.found))
		read.NonInteractiveErr = non.err
	case non.err != nil:
		read.NonInteractiveErr = non.err
		// The interactive listing answered and this one did not: keep what it read.
		read.NonInteractive = len(non.found) > 0
		read.NonInteractiveCut = fmt.Sprintf("the non-interactive listing failed after %d sign-ins: %v", len(non.found), non.err)
		if len(non.found) == 0 {
			read.BetaError = non.err
		}
	case !non.complete:
		read.NonInteractiveCut = fmt.Sprintf("only the newest %d non-interactive sign-ins were read (%d pages of %d)", len(non.found), nonInteractivePages, signInPage)
	}
	// A sign-in is in one listing only on Graph; a service or proxy that ignores the
	// signInEventTypes clause would answer both listings alike, and each sign-in would be
	// counted twice. Kept once, by id, the interactive listing's first.
	seen := make(map[string]bool, len(read.SignIns))
	for _, si := range read.SignIns {
		seen[si.ID] = si.ID != ""
	}
	for _, si := range non.found {
		if si.ID == "" || !seen[si.ID] {
			seen[si.ID] = si.ID != ""
			read.SignIns = append(read.SignIns, si)
		}
	}
	return read, nil
}

// betaSignIns lists the user's sign-ins of one kind (a signInEventTypes clause) from the
// beta endpoint, at most pages pages, newest first; on a failure after some pages it
// returns them with the error, and complete false when the cap cut the listing.
func (c *Client) betaSignIns(ctx context.Context, op, beta, userID string, since time.Time, kind string, pages int) (found []SignIn, complete bool, err error) {
	filter := fmt.Sprintf("userId eq '%s' and createdDateTime ge %s and %s", userID, since.UTC().Format(time.RFC3339), kind)
	link := beta + "/auditLogs/signIns?%24filter=" + escapeQuery(filter) + fmt.Sprintf("&%%24top=%d", signInPage)
	builder := c.sdk.AuditLogs().SignIns()
	for page := 0; page < pages; page++ {
		var current models.SignInCollectionResponseable
		err := c.call(ctx, op, func(ctx context.Context) error {
			var err error
			current, err = builder.WithUrl(link).Get(ctx, nil)
			return err
		})
		if err != nil {
			return found, false, err
		}
		if isNil(current) {
			return found, true, nil
		}
		found = append(found, toSignIns(current.GetValue())...)
		next := deref(current.GetOdataNextLink())
		if next == "" {
			return found, true, nil
		}
		if err := checkNextLinkUnder(next, beta); err != nil {
			return found, false, &Error{Op: op, Message: err.Error()}
		}
		link = next
	}
	return found, false, nil
}

// betaRoot is the beta counterpart of the configured Graph root (".../v1.0" -> ".../beta").
func (c *Client) betaRoot() (string, bool) {
	root, ok := strings.CutSuffix(c.baseURL, "/v1.0")
	if !ok {
		return "", false
	}
	return root + "/beta", true
}

// betaRefused reports a beta answer worth falling back to v1.0 for: Graph answered with an
// error, and not one v1.0 would answer the same (the licence error, an expired token,
// throttling) nor a failure to get an answer at all.
func betaRefused(err error) bool {
	var ge *Error
	if !errors.As(err, &ge) || ge.Status == 0 || ge.Transient() {
		return false
	}
	return ge.Code != SignInLicenceRequired && ge.Status != http.StatusUnauthorized
}

func toSignIns(found []models.SignInable) []SignIn {
	out := make([]SignIn, 0, len(found))
	for _, s := range found {
		if s == nil {
			continue
		}
		in := SignIn{ID: deref(s.GetId()), UserID: deref(s.GetUserId()), UPN: deref(s.GetUserPrincipalName()), App: deref(s.GetAppDisplayName()), ClientApp: deref(s.GetClientAppUsed()), IP: deref(s.GetIpAddress())}
		if t := s.GetCreatedDateTime(); t != nil {
			in.Time = t.UTC()
		}
		if l := s.GetLocation(); l != nil {
			in.City, in.State, in.Country = deref(l.GetCity()), deref(l.GetState()), deref(l.GetCountryOrRegion())
		}
		if st := s.GetStatus(); st != nil {
			if code := st.GetErrorCode(); code != nil {
				in.ErrorCode = int(*code)
			}
			in.FailureReason = deref(st.GetFailureReason())
		}
		if r := s.GetRiskLevelDuringSignIn(); r != nil {
			in.Risk = r.String()
		}
		in.CorrelationID = deref(s.GetCorrelationId())
		if i := s.GetIsInteractive(); i != nil {
			in.NonInteractive = !*i
		}
		// The beta properties v1.0's model does not know land in its additional data.
		extra := s.GetAdditionalData()
		in.SessionID, in.TokenID = rawString(extra["sessionId"]), rawString(extra["uniqueTokenIdentifier"])
		for _, t := range rawStrings(extra["signInEventTypes"]) {
			if strings.EqualFold(t, "nonInteractiveUser") {
				in.NonInteractive = true
			}
		}
		out = append(out, in)
	}
	return out
}

// rawString and rawStrings read a value of a model's additional data (the JSON parse node
// gives *string for a string, []any for an array).
func rawString(v any) string {
	switch x := v.(type) {
	case *string:
		return strings.TrimSpace(deref(x))
	case string:
		return strings.TrimSpace(x)
	}
	return ""
}

func rawStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, item := range list {
		if s := rawString(item); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// DirectoryAudits lists the directory audit records since the given time where the user
// initiated the activity or is one of its targets: two queries (Graph's $filter takes
// initiatedBy/user/id eq and targetResources/any(t: t/id eq), an "or" of both is not
// documented), merged and deduplicated by record id.
func (c *Client) DirectoryAudits(ctx context.Context, userID string, since time.Time) ([]DirectoryAudit, error) {
	const op = "DirectoryAudits"
	if !ValidID(userID) {
		return nil, invalid(op, "user id", userID)
	}
	seen := map[string]bool{}
	var out []DirectoryAudit
	for _, who := range []string{
		fmt.Sprintf("initiatedBy/user/id eq '%s'", userID),
		fmt.Sprintf("targetResources/any(t: t/id eq '%s')", userID),
	} {
		found, err := c.directoryAudits(ctx, op, who, since)
		if err != nil {
			return nil, err
		}
		for _, a := range found {
			if seen[a.ID] {
				continue
			}
			seen[a.ID] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// AuditsInitiatedBy lists the directory audit records since the given time of the
// activities the user initiated (one query: initiatedBy/user/id eq), every page.
func (c *Client) AuditsInitiatedBy(ctx context.Context, userID string, since time.Time) ([]DirectoryAudit, error) {
	const op = "AuditsInitiatedBy"
	if !ValidID(userID) {
		return nil, invalid(op, "user id", userID)
	}
	return c.directoryAudits(ctx, op, fmt.Sprintf("initiatedBy/user/id eq '%s'", userID), since)
}

// directoryAudits lists the records matching who (a filter built from a validated id) since
// the given time, every page.
func (c *Client) directoryAudits(ctx context.Context, op, who string, since time.Time) ([]DirectoryAudit, error) {
	filter := who + " and activityDateTime ge " + since.UTC().Format(time.RFC3339)
	builder := c.sdk.AuditLogs().DirectoryAudits()
	found, err := listAll[models.DirectoryAuditable](ctx, c, op,
		func(ctx context.Context) (models.DirectoryAuditCollectionResponseable, error) {
			return builder.Get(ctx, &auditlogs.DirectoryAuditsRequestBuilderGetRequestConfiguration{
				QueryParameters: &auditlogs.DirectoryAuditsRequestBuilderGetQueryParameters{Filter: &filter}})
		},
		func(ctx context.Context, link string) (models.DirectoryAuditCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	out := make([]DirectoryAudit, 0, len(found))
	for _, a := range found {
		if a != nil {
			out = append(out, toDirectoryAudit(a))
		}
	}
	return out, nil
}

func toDirectoryAudit(a models.DirectoryAuditable) DirectoryAudit {
	d := DirectoryAudit{
		ID: deref(a.GetId()), Activity: deref(a.GetActivityDisplayName()), Category: deref(a.GetCategory()),
		Service: deref(a.GetLoggedByService()), ResultReason: deref(a.GetResultReason()),
	}
	if t := a.GetActivityDateTime(); t != nil {
		d.Time = t.UTC()
	}
	if r := a.GetResult(); r != nil {
		d.Result = r.String()
	}
	if by := a.GetInitiatedBy(); by != nil {
		if u := by.GetUser(); u != nil {
			d.InitiatorID, d.InitiatorUPN, d.IP = deref(u.GetId()), deref(u.GetUserPrincipalName()), deref(u.GetIpAddress())
		}
		if app := by.GetApp(); app != nil {
			d.InitiatorApp = deref(app.GetDisplayName())
		}
	}
	for _, t := range a.GetTargetResources() {
		if t == nil {
			continue
		}
		name := deref(t.GetUserPrincipalName())
		if name == "" {
			name = deref(t.GetDisplayName())
		}
		if name == "" {
			name = deref(t.GetId())
		}
		if name != "" {
			d.Targets = append(d.Targets, strings.TrimSpace(name))
		}
		res := AuditResource{ID: strings.TrimSpace(deref(t.GetId())), Type: strings.TrimSpace(deref(t.GetTypeEscaped())), Name: strings.TrimSpace(name)}
		for _, p := range t.GetModifiedProperties() {
			if p == nil || deref(p.GetDisplayName()) == "" {
				continue
			}
			if res.Modified == nil {
				res.Modified = map[string]string{}
			}
			res.Modified[strings.TrimSpace(deref(p.GetDisplayName()))] = AuditValue(deref(p.GetNewValue()))
		}
		d.Resources = append(d.Resources, res)
	}
	return d
}

// AuditLogRetention is how far back the directory audit log can be read at most: Entra ID
// keeps audit records 30 days with P1 or P2 (7 days on Free; Microsoft Entra data
// retention). Reading from this far back reads as much as the tenant keeps.
const AuditLogRetention = 30 * 24 * time.Hour

// MethodRegistrations lists the directory audit records of the Authentication Methods
// service (loggedByService) whose target is the user, since the given time: "User
// registered security info", "Admin registered security info" and the like, with their
// resultReason ("User registered Authenticator App with Notification and Code"). One query
// by target (an admin's registration for the user is initiated by the admin); the service
// is matched here.
func (c *Client) MethodRegistrations(ctx context.Context, userID string, since time.Time) ([]DirectoryAudit, error) {
	const op = "MethodRegistrations"
	if !ValidID(userID) {
		return nil, invalid(op, "user id", userID)
	}
	found, err := c.directoryAudits(ctx, op, fmt.Sprintf("targetResources/any(t: t/id eq '%s')", userID), since)
	if err != nil {
		return nil, err
	}
	var out []DirectoryAudit
	for _, a := range found {
		if strings.EqualFold(strings.TrimSpace(a.Service), "Authentication Methods") {
			out = append(out, a)
		}
	}
	return out, nil
}
