package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// Directory is what the steps need from Microsoft Graph.
type Directory interface {
	GetUser(ctx context.Context, idOrUPN string) (graph.User, error)
	UserByProxyAddress(ctx context.Context, address string) (graph.User, error)
	SetPassword(ctx context.Context, userID, password string) error
	RevokeSessions(ctx context.Context, userID string) error
	RoleAssignments(ctx context.Context, principalID string) ([]graph.RoleAssignment, error)
	RoleAssignmentsForRole(ctx context.Context, roleDefinitionID string) ([]graph.RoleAssignment, error)
	DeleteRoleAssignment(ctx context.Context, id string) error
	CreateRoleAssignment(ctx context.Context, principalID, roleDefinitionID, scope string) (string, error)
	EligibleSchedules(ctx context.Context, principalID string) ([]graph.RoleSchedule, error)
	ActiveSchedules(ctx context.Context, principalID string) ([]graph.RoleSchedule, error)
	RemoveEligible(ctx context.Context, s graph.RoleSchedule, justification string) error
	RemoveActive(ctx context.Context, s graph.RoleSchedule, justification string) error
	GrantEligible(ctx context.Context, s graph.RoleSchedule, justification string) error
	GrantActive(ctx context.Context, s graph.RoleSchedule, justification string) error
	RoleAssignableGroups(ctx context.Context, userID string) ([]graph.Group, error)
	RemoveGroupMember(ctx context.Context, groupID, userID string) error
	AddGroupMember(ctx context.Context, groupID, userID string) error
	GroupUsers(ctx context.Context, groupID string) ([]graph.Member, error)
	GroupEligibilities(ctx context.Context, principalID string) ([]graph.GroupEligibility, error)
	RemoveGroupEligibility(ctx context.Context, e graph.GroupEligibility, justification string) error
	GrantGroupEligibility(ctx context.Context, e graph.GroupEligibility, justification string) error
	SignIns
	AuthMethods
	ConsentGrants
	Devices
}

// SignIns blocks and allows an account's sign-in (block-sign-in and its restore).
type SignIns interface {
	SetAccountEnabled(ctx context.Context, userID string, enabled bool) error
}

// AuthMethods reads and deletes the authentication methods registered to a user
// (remove-mfa-methods).
type AuthMethods interface {
	AuthenticationMethods(ctx context.Context, userID string) ([]graph.AuthMethod, error)
	DeleteAuthenticationMethod(ctx context.Context, userID string, m graph.AuthMethod) error
	// MethodRegistrations dates methods the directory gives no creation time for, from the
	// directory audit log (options.mfaMethods.registeredSince).
	MethodRegistrations(ctx context.Context, userID string, since time.Time) ([]graph.DirectoryAudit, error)
}

// ConsentGrants reads, deletes and recreates delegated permission grants
// (revoke-app-consents and its restore).
type ConsentGrants interface {
	PermissionGrants(ctx context.Context, principalID string) ([]graph.PermissionGrant, error)
	DeletePermissionGrant(ctx context.Context, id string) error
	CreatePermissionGrant(ctx context.Context, g graph.PermissionGrant) (string, error)
	SetPermissionGrantScope(ctx context.Context, id, scope string) error
	GetServicePrincipal(ctx context.Context, id string) (graph.ServicePrincipal, error)
	// The consents the user made as an administrator: found through the audit records of
	// the activities they initiated, removed and created again.
	PermissionGrantsForClient(ctx context.Context, clientID string) ([]graph.PermissionGrant, error)
	AuditsInitiatedBy(ctx context.Context, userID string, since time.Time) ([]graph.DirectoryAudit, error)
	AppRoleAssignmentsOf(ctx context.Context, servicePrincipalID string) ([]graph.AppRoleAssignment, error)
	AppRoleAssignedTo(ctx context.Context, resourceID string) ([]graph.AppRoleAssignment, error)
	DeleteAppRoleAssignedTo(ctx context.Context, resourceID, id string) error
	CreateAppRoleAssignedTo(ctx context.Context, a graph.AppRoleAssignment) (string, error)
}

// Locker serialises work across every handler instance of the tenant (runs.Store.Hold):
// remove-admin-roles and block-sign-in take it around counting and removing Global
// Administrators. The lease stays held while the work runs (it is renewed), and the work
// asks it before each change.
type Locker interface {
	Hold(ctx context.Context, name, holder string, ttl time.Duration) (runs.Lease, error)
}

// Mailboxes is what the steps need from Exchange Online.
type Mailboxes interface {
	GetMailbox(ctx context.Context, upn string) (exchange.Mailbox, error)
	ClearForwarding(ctx context.Context, upn string) error
	InboxRules(ctx context.Context, upn string) ([]exchange.InboxRule, error)
	DisableInboxRule(ctx context.Context, upn, identity string) error
	RemoveInboxRule(ctx context.Context, upn, identity string) error
	BlockedSenders(ctx context.Context, address string) ([]exchange.BlockedSender, error)
	RemoveBlockedSender(ctx context.Context, address string) error
	AcceptedDomains(ctx context.Context) ([]exchange.AcceptedDomain, error)
	MailboxAccess
}

var (
	_ Directory = (*graph.Client)(nil)
	_ Mailboxes = (*exchange.Client)(nil)
	_ Locker    = (*runs.Store)(nil)
)

// Target is the account a step works on, as resolved from the directory.
type Target struct {
	ID     string
	UPN    string
	Mail   string
	Synced bool // onPremisesSyncEnabled
}

// Options are the caller's per-run choices (the "options" object of a request).
type Options struct {
	InboxRules    InboxRuleOptions     `json:"inboxRules,omitzero"`
	UnblockSender UnblockSenderOptions `json:"unblockSender,omitzero"`
	Investigate   InvestigateOptions   `json:"investigate,omitzero"`
	MFAMethods    MFAMethodOptions     `json:"mfaMethods,omitzero"`
	Watch         WatchOptions         `json:"watch,omitzero"`
	AppConsents   AppConsentOptions    `json:"appConsents,omitzero"`
	BlockSignIn   BlockSignInOptions   `json:"blockSignIn,omitzero"`
}

// BlockSignInOptions choose what block-sign-in does beyond the account.
type BlockSignInOptions struct {
	// DisableDevices also disables (reversibly) the Entra ID devices the user registered or
	// owns that were registered in the look-back window (options.investigate.days, default
	// 7): Microsoft's "Revoke user access in Microsoft Entra ID" disables the user's devices.
	// Devices Graph gives no registration time for are named and the step ends
	// action_required.
	DisableDevices bool `json:"disableDevices,omitempty"`
}

// AppConsentOptions choose what revoke-app-consents does beyond the user's own consents.
type AppConsentOptions struct {
	// IncludeAdminConsents removes (reversibly) the tenant-wide consents and app role
	// assignments the user made as an administrator in the look-back window
	// (options.investigate.days, default 7). Without it they are named and the step ends
	// action_required.
	IncludeAdminConsents bool `json:"includeAdminConsents,omitempty"`
}

// WatchOptions ask for the eviction watch after the run's steps (contract section 1.3):
// for Duration after the run ends, the account's sign-ins, forwarding and inbox rules are
// checked for the attacker's return; a successful sign-in from one of IPs is a hit.
type WatchOptions struct {
	Duration string   `json:"duration,omitempty"` // a Go duration, 10s to 72h
	IPs      []string `json:"ips,omitempty"`
}

// The bounds of a watch's duration.
const (
	MinWatch = 10 * time.Second
	MaxWatch = 72 * time.Hour
	maxIPs   = 100
)

// WatchDuration is Duration parsed (ParseOptions has checked it); 0 when unset.
func (o WatchOptions) WatchDuration() time.Duration {
	d, _ := time.ParseDuration(o.Duration)
	return d
}

// MFAMethodOptions choose which authentication methods remove-mfa-methods deletes.
type MFAMethodOptions struct {
	// RegisteredSince (RFC 3339), when set, limits the step to methods created at or after
	// that time; methods without a creation time (phone, email, software OATH) are kept
	// and named in the step's message.
	RegisteredSince string `json:"registeredSince,omitempty"`
}

// since is RegisteredSince parsed (ParseOptions has checked it); nil when unset.
func (o MFAMethodOptions) since() *time.Time {
	if o.RegisteredSince == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, o.RegisteredSince)
	if err != nil {
		return nil
	}
	t = t.UTC()
	return &t
}

// UnblockSenderOptions let a person unblock a sender on its own although no recent run
// secured the account; the reason is recorded in the step.
type UnblockSenderOptions struct {
	Force  bool   `json:"force,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// InboxRuleOptions choose what remove-inbox-rules does.
type InboxRuleOptions struct {
	Action string `json:"action,omitempty"` // "disable" (default) or "delete"
	Scope  string `json:"scope,omitempty"`  // "suspicious" (default) or "all"
}

// ParseOptions decodes and validates a request's options; unknown fields are refused so a
// typo never silently falls back to a default.
func ParseOptions(raw json.RawMessage) (Options, error) {
	var o Options
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return o, fmt.Errorf("options: %w", err)
		}
	}
	switch o.InboxRules.Action {
	case "", "disable", "delete":
	default:
		return o, fmt.Errorf("options.inboxRules.action must be \"disable\" or \"delete\", not %q", o.InboxRules.Action)
	}
	switch o.InboxRules.Scope {
	case "", "suspicious", "all":
	default:
		return o, fmt.Errorf("options.inboxRules.scope must be \"suspicious\" or \"all\", not %q", o.InboxRules.Scope)
	}
	if o.MFAMethods.RegisteredSince != "" {
		if _, err := time.Parse(time.RFC3339, o.MFAMethods.RegisteredSince); err != nil {
			return o, fmt.Errorf("options.mfaMethods.registeredSince must be an RFC 3339 time such as \"2026-11-29T08:00:00Z\", not %q", o.MFAMethods.RegisteredSince)
		}
	}
	o.UnblockSender.Reason = strings.TrimSpace(o.UnblockSender.Reason)
	if o.UnblockSender.Force && o.UnblockSender.Reason == "" {
		return o, fmt.Errorf("options.unblockSender.force needs a reason: say why the sender may send mail again without a recent run that secured the account")
	}
	if len(o.UnblockSender.Reason) > 2000 {
		return o, fmt.Errorf("options.unblockSender.reason is longer than 2000 characters")
	}
	if o.Watch.Duration != "" {
		d, err := time.ParseDuration(o.Watch.Duration)
		if err != nil || d < MinWatch || d > MaxWatch {
			return o, fmt.Errorf("options.watch.duration must be a Go duration from 10s to 72h (e.g. \"24h\"), not %q", o.Watch.Duration)
		}
	}
	if len(o.Watch.IPs) > maxIPs {
		return o, fmt.Errorf("options.watch.ips holds at most %d addresses", maxIPs)
	}
	for i, ip := range o.Watch.IPs {
		addr, err := netip.ParseAddr(strings.TrimSpace(ip))
		if err != nil {
			return o, fmt.Errorf("options.watch.ips[%d] is not an IP address: %q", i, ip)
		}
		o.Watch.IPs[i] = addr.String()
	}
	if d := o.Investigate.Days; d < 0 || d > MaxInvestigateDays {
		return o, fmt.Errorf("options.investigate.days must be between 1 and %d (default %d), not %d", MaxInvestigateDays, DefaultInvestigateDays, d)
	}
	return o, nil
}

// Input is everything a step needs to run once.
type Input struct {
	Target  Target
	DryRun  bool
	Reason  string
	RunID   string
	Options Options
	// Others holds the statuses of the run's other steps (unblock-sender decides on them).
	Others map[Name]runs.StepStatus
	// Async: nobody waits on the step's answer (a run through the queues), so investigate
	// gives its sources minutes rather than seconds.
	Async bool
	// Record, when set, saves the evidence (what the step read and is about to change)
	// before the step acts. A step acts only once its evidence is recorded.
	Record func(ctx context.Context, planned []runs.Change) error
}

// changesOf lists the change each planned item will make, for the evidence.
func changesOf[T any](items []T, change func(T) runs.Change) []runs.Change {
	out := make([]runs.Change, len(items))
	for i, item := range items {
		out[i] = change(item)
	}
	return out
}

// recordBeforeActing saves the planned changes before a step acts. It returns the outcome
// to end the step with when the step must not act: a dry run ends planned here, and a step
// whose evidence cannot be recorded changes nothing and is tried again (transient).
func recordBeforeActing(ctx context.Context, step string, in Input, planned []runs.Change) *Outcome {
	if in.DryRun {
		return &Outcome{Status: runs.StepPlanned, Changes: planned}
	}
	if in.Record == nil || len(planned) == 0 {
		return nil
	}
	if err := in.Record(ctx, planned); err != nil {
		return &Outcome{Status: runs.StepFailed, Transient: true, Error: &runs.Error{Code: "evidence_not_recorded",
			Message: step + ": the evidence could not be recorded before acting, so nothing was changed; the step is tried again (" + err.Error() + ")"}}
	}
	return nil
}

// Outcome is what a step did. Changes made before a failure are kept, so a retry that finds
// them done does not record them twice.
type Outcome struct {
	Status  runs.StepStatus
	Message string
	Changes []runs.Change
	Error   *runs.Error
	// Transient is set when the failure may pass (throttling, 5xx, timeouts): the caller
	// retries the step instead of ending it failed.
	Transient bool
	// Findings is what a read-only step (investigate) found.
	Findings *runs.Findings
	// Throttled is set when the service said to slow down (429, or 503 with Retry-After):
	// a queued step is then deferred by RetryAfter (0: the service named no wait) instead
	// of using up a delivery (contract 6.2).
	Throttled  bool
	RetryAfter time.Duration
}

// Runner runs steps against a directory and a mailbox service.
type Runner struct {
	Directory Directory
	Mailboxes Mailboxes
	// Locker, when set, makes Global Administrator removals one at a time tenant-wide, so
	// concurrent runs cannot remove the last two between them. Without it (tests of a
	// single run) they are not serialised.
	Locker Locker
	// GlobalAdminLockTTL is the ttl of the Global Administrator lock (globalAdminLockTTL
	// when zero); tests shorten it to make a slow removal outlast it.
	GlobalAdminLockTTL time.Duration
	// AuditLogs and MailLogs are the sources investigate reads (sign-ins and directory
	// audit records; unified audit log and message trace). Without them those sources are
	// named unavailable.
	AuditLogs AuditLogs
	MailLogs  MailLogs
	// SourceBudget bounds each investigate source in a sync run (DefaultSourceBudget when
	// zero); AsyncSourceBudget in a run through the queues (AsyncSourceBudget when zero).
	SourceBudget      time.Duration
	AsyncSourceBudget time.Duration
	// Now is the clock of investigate's window (time.Now when nil).
	Now func() time.Time
	// DelegateRecheckWait is the unit of the backoff between the reads that check a removed
	// delegate is gone (defaultDelegateRecheckWait when zero); tests shorten it.
	DelegateRecheckWait time.Duration
}

// Run runs one step.
func (r *Runner) Run(ctx context.Context, step Name, in Input) Outcome {
	var out Outcome
	switch step {
	case ResetPassword:
		out = r.resetPassword(ctx, in)
	case RevokeSessions:
		out = r.revokeSessions(ctx, in)
	case RemoveForwarding:
		out = r.removeForwarding(ctx, in)
	case RemoveInboxRules:
		out = r.removeInboxRules(ctx, in)
	case RemoveAdminRoles:
		out = r.removeAdminRoles(ctx, in)
	case DisableMailProtocols:
		out = r.disableMailProtocols(ctx, in)
	case RemoveExchangeRoleGroups:
		out = r.removeExchangeRoleGroups(ctx, in)
	case RemoveMailboxDelegates:
		out = r.removeMailboxDelegates(ctx, in)
	case UnblockSender:
		out = r.unblockSender(ctx, in)
	case Investigate:
		out = r.investigate(ctx, in)
	case BlockSignIn:
		out = r.blockSignIn(ctx, in)
	case RemoveMFAMethods:
		out = r.removeMFAMethods(ctx, in)
	case RevokeAppConsents:
		out = r.revokeAppConsents(ctx, in)
	default:
		out = Outcome{Status: runs.StepFailed, Error: &runs.Error{Code: "unknown_step", Message: "unknown step " + string(step)}}
	}
	if out.Changes == nil {
		out.Changes = []runs.Change{}
	}
	return out
}

// fail turns a service error into a failed (or, when it may pass, transient) outcome whose
// message says what failed and what a person can do.
func fail(what string, err error, changes []runs.Change) Outcome {
	out := Outcome{Status: runs.StepFailed, Changes: changes, Error: explain(what, err), Transient: isTransient(err)}
	out.RetryAfter, out.Throttled = Throttled(err)
	out.Transient = out.Transient || out.Throttled
	return out
}

// Throttled reports whether err says the service told the caller to slow down (429, or 503
// with Retry-After) or the tenant's shared throttle held the call back, and the wait it
// named (0 when it named none): graph.Error and exchange.Error, wrapped or not.
func Throttled(err error) (time.Duration, bool) {
	var t interface{ Throttled() (time.Duration, bool) }
	if !errors.As(err, &t) {
		return 0, false
	}
	return t.Throttled()
}

// isTransient reports a failure that may pass (throttling, 5xx, timeouts): the step is
// retried rather than ended.
func isTransient(err error) bool {
	var t interface{ Transient() bool }
	return err != nil && (errors.As(err, &t) && t.Transient() || errors.Is(err, context.DeadlineExceeded))
}

// Explain turns a service error into the run document's error shape.
func Explain(what string, err error) *runs.Error { return explain(what, err) }

func explain(what string, err error) *runs.Error {
	var ge *graph.Error
	var xe *exchange.Error
	switch {
	case errors.As(err, &ge):
		return &runs.Error{Code: orDefault(ge.Code, fmt.Sprint(ge.Status)), Message: fmt.Sprintf("%s: Microsoft Graph answered %d %s: %s%s", what, ge.Status, ge.Code, ge.Message, hint(ge.Status))}
	case errors.As(err, &xe):
		// The exception type (without its namespace) says more than the HTTP code: the same
		// ManagementObjectNotFoundException arrives as 404 or 400.
		code := xe.Code
		if t := xe.ShortType(); t != "" && !strings.HasPrefix(t, "ODataServiceException") {
			code += " (" + t + ")"
		}
		return &runs.Error{Code: orDefault(xe.Code, fmt.Sprint(xe.Status)), Message: fmt.Sprintf("%s: Exchange Online answered %d %s: %s%s", what, xe.Status, strings.TrimSpace(code), xe.Message, hint(xe.Status))}
	case errors.Is(err, context.DeadlineExceeded):
		return &runs.Error{Code: "timeout", Message: what + ": the service did not answer in time; the step will be retried"}
	}
	return &runs.Error{Code: "error", Message: fmt.Sprintf("%s: %v", what, err)}
}

func hint(status int) string {
	switch status {
	case 401:
		return " (the managed identity's token was refused: check the identity and its app roles)"
	case 403:
		return " (the managed identity lacks a permission or directory role for this; see the README's permission table)"
	case 404:
		return " (the object no longer exists)"
	case 429:
		return " (the tenant is throttling requests; the step will be retried)"
	case 0, 500, 502, 503, 504:
		return " (a passing service failure; the step will be retried)"
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
