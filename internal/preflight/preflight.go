// Package preflight answers, before the first incident, what will work in this tenant and how
// to fix what will not (contract section 2, GET /api/preflight). It only reads: tokens of the
// managed identity, the identity's directory roles, one harmless read per service and the
// listings whose answer depends on the tenant's licences. It changes nothing, ever.
package preflight

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
)

// Statuses of a check and of a step.
const (
	OK   = "ok"
	Warn = "warn"
	Fail = "fail"

	Ready    = "ready"
	Degraded = "degraded"
	Blocked  = "blocked"
)

// Check is one thing the preflight looked at.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok | warn | fail
	Detail string `json:"detail"`
	Fix    string `json:"fix"` // what a person pastes or clicks; "" when nothing is to fix
}

// StepReport says whether one catalog step will work.
type StepReport struct {
	Name    catalog.Name `json:"name"`
	Status  string       `json:"status"` // ready | degraded | blocked
	Reasons []string     `json:"reasons"`
}

// Report is the answer of GET /api/preflight.
type Report struct {
	Status    string       `json:"status"` // the worst of the default steps
	CheckedAt time.Time    `json:"checkedAt"`
	Checks    []Check      `json:"checks"`
	Steps     []StepReport `json:"steps"`
}

// Directory is what the preflight reads of Microsoft Graph.
type Directory interface {
	RoleAssignments(ctx context.Context, principalID string) ([]graph.RoleAssignment, error)
	EligibleSchedules(ctx context.Context, principalID string) ([]graph.RoleSchedule, error)
	SignIns(ctx context.Context, userID string, since time.Time) ([]graph.SignIn, error)
}

// MessageTraces is Graph's message trace, which a Directory may offer: the preflight then
// checks that it answers (its first-party service principal provisioned, the permission
// granted).
type MessageTraces interface {
	MessageTraces(ctx context.Context, senders []string, start, end time.Time) ([]graph.MessageTrace, error)
}

// Mailboxes is what the preflight reads of Exchange Online.
type Mailboxes interface {
	AcceptedDomains(ctx context.Context) ([]exchange.AcceptedDomain, error)
	BlockedSenders(ctx context.Context, address string) ([]exchange.BlockedSender, error)
	AdminAuditLogConfig(ctx context.Context) (exchange.AuditConfig, error)
	MessageTrace(ctx context.Context, senders []string, start, end time.Time) ([]exchange.TracedMessage, error)
}

// Settings are the handler's own settings the preflight reports on.
type Settings struct {
	RecordKeySet       bool
	AuthMode           string
	WebsiteAuthEnabled bool
	ApprovalMode       string
	SweepMode          string
	// Protected counts PROTECTED_ACCOUNTS: configured, resolved to an object id, and how
	// many of them hold Global Administrator (a break-glass account); err when that could
	// not be read.
	Protected func(ctx context.Context) (configured, resolved, globalAdmins int, err error)
}

// Checker runs the preflight. Its answer is cached for CacheFor: operators may reload it,
// and it must not turn requests into Graph and Exchange calls one for one.
type Checker struct {
	Credential azcore.TokenCredential
	Directory  Directory
	Mailboxes  Mailboxes
	Settings   Settings
	// GraphScope and ExchangeScope are the token scopes (contract section 8).
	GraphScope, ExchangeScope string
	Now                       func() time.Time
	// ReadTimeout bounds each read (DefaultReadTimeout when zero).
	ReadTimeout time.Duration

	mu     sync.Mutex
	cached *Report
	at     time.Time
}

const (
	// CacheFor is how long one preflight answers.
	CacheFor = 3 * time.Minute
	// Budget bounds one preflight: it answers within it even when a service hangs, naming
	// what did not answer.
	Budget = 25 * time.Second
	// DefaultReadTimeout bounds each read.
	DefaultReadTimeout = 10 * time.Second
)

func (c *Checker) readTimeout() time.Duration {
	if c.ReadTimeout > 0 {
		return c.ReadTimeout
	}
	return DefaultReadTimeout
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Run answers the preflight, from the cache when it is fresh.
func (c *Checker) Run(ctx context.Context) Report {
	c.mu.Lock()
	defer c.mu.Unlock() // one preflight at a time: callers that arrive meanwhile get its answer
	if c.cached != nil && c.now().Sub(c.at) < CacheFor {
		return *c.cached
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Budget)
	defer cancel()
	r := c.run(ctx)
	c.cached, c.at = &r, c.now()
	return r
}

// Summary is the last preflight in a line ("ready: 13 of 13 steps ready, checked ..."), from
// the cache only: it never starts a preflight (the report page asks it while rendering).
// "" when no preflight is cached.
func (c *Checker) Summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached == nil {
		return ""
	}
	ready := 0
	for _, st := range c.cached.Steps {
		if st.Status == Ready {
			ready++
		}
	}
	return fmt.Sprintf("%s: %d of %d steps ready, checked %s", c.cached.Status, ready, len(c.cached.Steps), c.cached.CheckedAt.Format(time.RFC3339))
}

// findings collects what each check found about the steps; the probes run at once.
type findings struct {
	mu      sync.Mutex
	checks  []Check
	blocked map[catalog.Name][]string
	degrade map[catalog.Name][]string
}

func (f *findings) add(ch Check) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append(f.checks, ch)
}

func (f *findings) block(step catalog.Name, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked[step] = append(f.blocked[step], why)
}

func (f *findings) degradeStep(step catalog.Name, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.degrade[step] = append(f.degrade[step], why)
}

func (f *findings) blockAll(pred func(Need) bool, why string) {
	for _, st := range catalog.Steps {
		if pred(Needs[st.Name]) {
			f.block(st.Name, why)
		}
	}
}

func (c *Checker) run(ctx context.Context) Report {
	f := &findings{blocked: map[catalog.Name][]string{}, degrade: map[catalog.Name][]string{}}

	// Tokens first: everything else is read with them. Both are asked at once.
	var graphTok, exchangeTok tokenInfo
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); graphTok = c.token(ctx, c.GraphScope) }()
	go func() { defer wg.Done(); exchangeTok = c.token(ctx, c.ExchangeScope) }()
	wg.Wait()

	c.checkGraphToken(f, graphTok)
	c.checkExchangeToken(f, exchangeTok)

	// The reads that depend on the tenant, at once, each bounded: a service that hangs
	// costs ReadTimeout, not the whole answer.
	var probes []func(context.Context)
	if graphTok.err == nil {
		probes = append(probes,
			func(ctx context.Context) { c.checkDirectoryRoles(ctx, f, graphTok) },
			func(ctx context.Context) { c.checkPIM(ctx, f, graphTok) },
			func(ctx context.Context) { c.checkSignInLogs(ctx, f, graphTok) },
		)
		if mt, ok := c.Directory.(MessageTraces); ok {
			probes = append(probes, func(ctx context.Context) { c.checkGraphMessageTrace(ctx, f, mt, graphTok) })
		}
	}
	if exchangeTok.err == nil {
		probes = append(probes, func(ctx context.Context) { c.checkExchangeReads(ctx, f) })
	}
	if c.Settings.Protected != nil {
		probes = append(probes, func(ctx context.Context) { c.checkProtected(ctx, f) })
	}
	for _, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, c.readTimeout())
			defer cancel()
			p(pctx)
		}()
	}
	wg.Wait()
	c.checkSettings(f)
	return c.report(f)
}

// tokenInfo is what a token says of the identity.
type tokenInfo struct {
	roles map[string]bool
	oid   string
	read  bool // the token's claims could be read (a JWT)
	err   error
}

func (c *Checker) token(ctx context.Context, scope string) tokenInfo {
	tctx, cancel := context.WithTimeout(ctx, c.readTimeout())
	defer cancel()
	tok, err := c.Credential.GetToken(tctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		return tokenInfo{err: err}
	}
	info := tokenInfo{roles: map[string]bool{}}
	claims, err := jwtClaims(tok.Token)
	if err != nil {
		return info // a token that is not a JWT: its roles cannot be read here
	}
	info.read = true
	info.oid, _ = claims["oid"].(string)
	if list, ok := claims["roles"].([]any); ok {
		for _, r := range list {
			if s, ok := r.(string); ok {
				info.roles[s] = true
			}
		}
	}
	return info
}

// jwtClaims decodes a JWT's payload without verifying it: the token comes from the
// identity endpoint over the platform's own channel, and only its claims are read.
func jwtClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, err
	}
	return claims, nil
}

func grantFix(appID, api, role, oid string) string {
	if oid == "" {
		oid = "<object id of the function app's managed identity>"
	}
	return fmt.Sprintf(`SP=$(az ad sp show --id %s --query id -o tsv); ROLE=$(az ad sp show --id %s --query "appRoles[?value=='%s'].id" -o tsv); az rest -m POST -u "https://graph.microsoft.com/v1.0/servicePrincipals/%s/appRoleAssignments" -b "{\"principalId\":\"%s\",\"resourceId\":\"$SP\",\"appRoleId\":\"$ROLE\"}"   # grants %s on %s to the managed identity (or re-run azd provision with grantApiPermissions=true); new roles reach the token within about an hour, or restart the app`,
		appID, appID, role, oid, oid, role, api)
}

func (c *Checker) checkGraphToken(f *findings, t tokenInfo) {
	if t.err != nil {
		f.add(Check{Name: "graph-token", Status: Fail,
			Detail: "no Microsoft Graph token for the managed identity: " + oneLine(t.err),
			Fix:    "az functionapp identity assign -g <resource group> -n <function app>   # then restart the app; locally: az login"})
		f.blockAll(func(n Need) bool { return true }, "no Microsoft Graph token (every run reads the user from Graph first)")
		return
	}
	if !t.read {
		f.add(Check{Name: "graph-token", Status: Warn,
			Detail: "a Microsoft Graph token was issued, but its claims could not be read, so the app roles were not checked; the reads below still test what they can"})
		return
	}
	f.add(Check{Name: "graph-token", Status: OK, Detail: fmt.Sprintf("Microsoft Graph token for object id %s with %d app roles", orUnknown(t.oid), len(t.roles))})
	var missing []string
	for _, p := range everyStep {
		if !granted(t.roles, p) {
			missing = append(missing, p)
			f.blockAll(func(Need) bool { return true }, "the identity lacks the Microsoft Graph application permission "+p+" (every run reads the user first)")
		}
	}
	for _, st := range catalog.Steps {
		n := Needs[st.Name]
		for _, p := range n.Graph {
			if !granted(t.roles, p) {
				f.block(st.Name, "the identity lacks the Microsoft Graph application permission "+p)
				if !slices.Contains(missing, p) {
					missing = append(missing, p)
				}
			}
		}
		for _, p := range sortedKeys(n.GraphOptional) {
			if !granted(t.roles, p) {
				f.degradeStep(st.Name, "no "+p+": "+n.GraphOptional[p])
			}
		}
		// A permission only an option or a preferred path uses leaves the step ready.
		for _, p := range sortedKeys(n.GraphForOptions) {
			if !granted(t.roles, p) {
				f.add(Check{Name: "graph-permission " + p, Status: Warn,
					Detail: string(st.Name) + ": " + n.GraphForOptions[p],
					Fix:    grantFix(graphAppID, "Microsoft Graph", p, t.oid)})
			}
		}
	}
	for _, p := range missing {
		f.add(Check{Name: "graph-permission " + p, Status: Fail,
			Detail: "the managed identity's Graph token does not carry " + p + "; the steps that need it are blocked",
			Fix:    grantFix(graphAppID, "Microsoft Graph", p, t.oid)})
	}
}

func (c *Checker) checkExchangeToken(f *findings, t tokenInfo) {
	exchangeSteps := func(n Need) bool { return n.Exchange }
	switch {
	case t.err != nil:
		f.add(Check{Name: "exchange-token", Status: Fail, Detail: "no Exchange Online token for the managed identity: " + oneLine(t.err),
			Fix: "az functionapp identity assign -g <resource group> -n <function app>   # then restart the app"})
		f.blockAll(exchangeSteps, "no Exchange Online token")
	case !t.read:
		f.add(Check{Name: "exchange-token", Status: Warn, Detail: "an Exchange Online token was issued, but its claims could not be read, so Exchange.ManageAsApp was not checked"})
	case !t.roles["Exchange.ManageAsApp"]:
		f.add(Check{Name: "exchange-token", Status: Fail, Detail: "the Exchange Online token does not carry the app role Exchange.ManageAsApp, without which no cmdlet runs",
			Fix: grantFix(exchangeAppID, "Office 365 Exchange Online", "Exchange.ManageAsApp", t.oid)})
		f.blockAll(exchangeSteps, "the identity lacks the Exchange Online application permission Exchange.ManageAsApp")
	default:
		f.add(Check{Name: "exchange-token", Status: OK, Detail: "Exchange Online token with Exchange.ManageAsApp"})
	}
}

func (c *Checker) checkDirectoryRoles(ctx context.Context, f *findings, t tokenInfo) {
	if t.oid == "" {
		f.add(Check{Name: "directory-roles", Status: Warn, Detail: "the identity's object id is not known (the token's claims could not be read), so its directory roles were not checked"})
		return
	}
	assignments, err := c.Directory.RoleAssignments(ctx, t.oid)
	if err != nil {
		_, why := classify(err)
		f.add(Check{Name: "directory-roles", Status: Warn, Detail: "the identity's directory roles could not be read (" + why + ")",
			Fix: grantFix(graphAppID, "Microsoft Graph", "RoleManagement.Read.Directory", t.oid)})
		return
	}
	has := map[string]bool{}
	for _, a := range assignments {
		has[strings.ToLower(a.RoleDefinitionID)] = true
		has[strings.ToLower(a.TemplateID)] = true
	}
	roleFix := func(role, id string) string {
		return fmt.Sprintf(`az rest -m POST -u "https://graph.microsoft.com/v1.0/roleManagement/directory/roleAssignments" -b '{"principalId":"%s","roleDefinitionId":"%s","directoryScopeId":"/"}'   # %s (or: bash infra/assign-directory-roles.sh)`, t.oid, id, role)
	}
	if has[roleGlobalAdministrator] || has[rolePrivilegedAuthenticationAdmin] {
		f.add(Check{Name: "directory-role Privileged Authentication Administrator", Status: OK, Detail: "the identity can reset passwords and block sign-in of accounts that hold admin roles"})
	} else {
		f.add(Check{Name: "directory-role Privileged Authentication Administrator", Status: Warn,
			Detail: "the identity does not hold Privileged Authentication Administrator: Graph refuses to reset the password of, block or strip the methods of an account that holds an admin role (403), which is when it matters most",
			Fix:    roleFix("Privileged Authentication Administrator", rolePrivilegedAuthenticationAdmin)})
		for _, st := range catalog.Steps {
			if Needs[st.Name].AdminReset {
				f.degradeStep(st.Name, "without Privileged Authentication Administrator, accounts that hold admin roles are refused (403)")
			}
		}
	}
	if has[roleGlobalAdministrator] || has[roleExchangeAdministrator] {
		f.add(Check{Name: "directory-role Exchange Administrator", Status: OK, Detail: "the identity holds Exchange Administrator (or Global Administrator)"})
	} else {
		f.add(Check{Name: "directory-role Exchange Administrator", Status: Warn,
			Detail: "the identity holds neither Exchange Administrator nor Global Administrator; Exchange steps work only if a scoped Exchange role group grants the cmdlets (the Exchange read check says whether they run)",
			Fix:    roleFix("Exchange Administrator", roleExchangeAdministrator) + "   # or, scoped: Connect-ExchangeOnline; New-ServicePrincipal -AppId <app id> -ObjectId " + t.oid + " -DisplayName Tourniquet; Add-RoleGroupMember 'Organization Management' -Member " + t.oid})
	}
	if has[roleGlobalAdministrator] {
		f.add(Check{Name: "directory-role least privilege", Status: Warn,
			Detail: "the identity holds Global Administrator: more than it needs (Privileged Authentication Administrator and Exchange Administrator suffice)",
			Fix:    "remove the identity's Global Administrator assignment in the Entra admin center > Roles and administrators > Global Administrator"})
	}
}

func (c *Checker) checkPIM(ctx context.Context, f *findings, t tokenInfo) {
	if t.oid == "" {
		return
	}
	_, err := c.Directory.EligibleSchedules(ctx, t.oid)
	var ge *graph.Error
	switch {
	case err == nil:
		f.add(Check{Name: "licence PIM", Status: OK, Detail: "the PIM listings answer (Entra ID P2 or ID Governance): eligible and active PIM assignments are removed too"})
	case errors.As(err, &ge) && strings.EqualFold(ge.Code, "AadPremiumLicenseRequired"):
		f.add(Check{Name: "licence PIM", Status: Warn, Detail: "the tenant has no Entra ID P2 or ID Governance: PIM listings answer AadPremiumLicenseRequired, so remove-admin-roles removes active assignments and role-assignable group memberships only (there is no PIM to remove either)",
			Fix: "nothing to fix unless the tenant uses PIM"})
		f.degradeStep(catalog.RemoveAdminRoles, "no PIM in this tenant (no Entra ID P2 / ID Governance licence)")
	default:
		_, why := classify(err)
		f.add(Check{Name: "licence PIM", Status: Warn, Detail: "the PIM eligibility listing failed (" + why + ")",
			Fix: grantFix(graphAppID, "Microsoft Graph", "RoleManagement.ReadWrite.Directory", t.oid)})
		f.degradeStep(catalog.RemoveAdminRoles, "the PIM eligibility listing failed: "+why)
	}
}

func (c *Checker) checkSignInLogs(ctx context.Context, f *findings, t tokenInfo) {
	if t.oid == "" {
		return
	}
	_, err := c.Directory.SignIns(ctx, t.oid, c.now().Add(-time.Hour))
	var ge *graph.Error
	switch {
	case err == nil:
		f.add(Check{Name: "licence sign-in logs", Status: OK, Detail: "the sign-in logs answer (Entra ID P1 or P2)"})
	case errors.As(err, &ge) && ge.Status == http.StatusForbidden && strings.Contains(strings.ToLower(ge.Code+ge.Message), "premium"):
		f.add(Check{Name: "licence sign-in logs", Status: Warn, Detail: "the tenant has no Entra ID P1 or P2: sign-in logs are not available, so investigate reads no sign-ins (and the eviction watch cannot see the attacker return by sign-in)",
			Fix: "license Entra ID P1 (included in Microsoft 365 Business Premium and E3/E5)"})
		f.degradeStep(catalog.Investigate, "no sign-in logs in this tenant (no Entra ID P1 licence)")
	default:
		_, why := classify(err)
		f.add(Check{Name: "licence sign-in logs", Status: Warn, Detail: "the sign-in listing failed (" + why + ")",
			Fix: grantFix(graphAppID, "Microsoft Graph", "AuditLog.Read.All", t.oid)})
		f.degradeStep(catalog.Investigate, "the sign-in listing failed: "+why)
	}
}

// checkGraphMessageTrace asks Graph's message trace for one hour of a sender nobody has (it
// returns nothing and costs one request). investigate prefers it to Get-MessageTraceV2 and
// falls back to that, so a refusal is a warning that names the fix, not a degraded step.
func (c *Checker) checkGraphMessageTrace(ctx context.Context, f *findings, mt MessageTraces, t tokenInfo) {
	now := c.now()
	_, err := mt.MessageTraces(ctx, []string{"preflight-probe@invalid.example"}, now.Add(-time.Hour), now)
	var ge *graph.Error
	switch {
	case err == nil:
		f.add(Check{Name: "graph message trace", Status: OK, Detail: "Microsoft Graph's message trace answers: investigate reads the mail sent from it"})
	case errors.As(err, &ge) && strings.Contains(ge.Message, graph.MessageTraceAppID):
		f.add(Check{Name: "graph message trace", Status: Warn,
			Detail: "Microsoft Graph's message trace needs the service principal of Microsoft's message trace application (app id " + graph.MessageTraceAppID + ") in the tenant, and it is not there (" + oneLine(err) + "): investigate reads sent mail with Get-MessageTraceV2 instead",
			Fix:    "az ad sp create --id " + graph.MessageTraceAppID + "   # or: Connect-MgGraph -Scopes Application.ReadWrite.All; New-MgServicePrincipal -AppId " + graph.MessageTraceAppID + " (provisioning can take hours)"})
	case errors.As(err, &ge) && ge.Status == http.StatusForbidden:
		f.add(Check{Name: "graph message trace", Status: Warn,
			Detail: "Microsoft Graph's message trace refused the identity (" + oneLine(err) + "): investigate reads sent mail with Get-MessageTraceV2 instead",
			Fix:    grantFix(graphAppID, "Microsoft Graph", "ExchangeMessageTrace.Read.All", t.oid)})
	default:
		_, why := classify(err)
		f.add(Check{Name: "graph message trace", Status: Warn,
			Detail: "Microsoft Graph's message trace failed (" + why + "): investigate reads sent mail with Get-MessageTraceV2 instead"})
	}
}

func (c *Checker) checkExchangeReads(ctx context.Context, f *findings) {
	exchangeSteps := func(n Need) bool { return n.Exchange }
	rbacFix := "Connect-ExchangeOnline; New-ServicePrincipal -AppId <managed identity app id> -ObjectId <managed identity object id> -DisplayName Tourniquet; Add-RoleGroupMember 'Organization Management' -Member <managed identity object id>   # or assign the Exchange Administrator directory role (bash infra/assign-directory-roles.sh)"
	if _, err := c.Mailboxes.AcceptedDomains(ctx); err != nil {
		status, why := classify(err)
		f.add(Check{Name: "exchange read Get-AcceptedDomain", Status: Fail, Detail: "Exchange Online refused or did not answer Get-AcceptedDomain (" + why + ")", Fix: rbacFix})
		if status == Blocked {
			f.blockAll(exchangeSteps, "Exchange Online refuses the identity's cmdlets ("+why+")")
		} else {
			f.blockAll(exchangeSteps, "Exchange Online did not answer ("+why+")")
		}
		return
	}
	f.add(Check{Name: "exchange read Get-AcceptedDomain", Status: OK, Detail: "Exchange Online runs the identity's cmdlets"})
	if _, err := c.Mailboxes.BlockedSenders(ctx, ""); err != nil {
		_, why := classify(err)
		f.add(Check{Name: "exchange read Get-BlockedSenderAddress", Status: Fail, Detail: "Get-BlockedSenderAddress failed (" + why + "): unblock-sender and the restricted-users sweep cannot work", Fix: rbacFix})
		f.block(catalog.UnblockSender, "Get-BlockedSenderAddress failed: "+why)
		return
	}
	f.add(Check{Name: "exchange read Get-BlockedSenderAddress", Status: OK, Detail: "the Restricted users list can be read"})
	c.checkAuditAndTrace(ctx, f)
}

// checkAuditAndTrace asks what investigate relies on in Exchange: whether the unified audit
// log records anything at all, and whether the message trace answers (a query of one hour
// for a sender nobody has, so it returns nothing and costs one request).
func (c *Checker) checkAuditAndTrace(ctx context.Context, f *findings) {
	switch cfg, err := c.Mailboxes.AdminAuditLogConfig(ctx); {
	case err != nil:
		_, why := classify(err)
		f.add(Check{Name: "audit log ingestion", Status: Warn, Detail: "Get-AdminAuditLogConfig failed (" + why + "): whether the unified audit log records mailbox changes is not known",
			Fix: "Connect-ExchangeOnline; Get-AdminAuditLogConfig | Format-List UnifiedAuditLogIngestionEnabled"})
		f.degradeStep(catalog.Investigate, "whether the unified audit log records mailbox changes could not be read: "+why)
	case !cfg.UnifiedAuditLogIngestionEnabled:
		f.add(Check{Name: "audit log ingestion", Status: Warn, Detail: "UnifiedAuditLogIngestionEnabled is False: the unified audit log records no mailbox changes, so investigate cannot see new inbox rules, forwarding or permissions",
			Fix: "Connect-ExchangeOnline; Set-AdminAuditLogConfig -UnifiedAuditLogIngestionEnabled $true   # takes up to 60 minutes"})
		f.degradeStep(catalog.Investigate, "the unified audit log is off (UnifiedAuditLogIngestionEnabled False): no mailbox changes are recorded")
	default:
		f.add(Check{Name: "audit log ingestion", Status: OK, Detail: "the unified audit log records mailbox changes"})
	}
	now := c.now()
	if _, err := c.Mailboxes.MessageTrace(ctx, []string{"preflight-probe@invalid.example"}, now.Add(-time.Hour), now); err != nil {
		_, why := classify(err)
		f.add(Check{Name: "message trace", Status: Warn, Detail: "Get-MessageTraceV2 failed (" + why + "): investigate cannot count the mail the user sent",
			Fix: "give the identity an Exchange role that includes Message Tracking (Organization Management, or View-Only Organization Management)"})
		f.degradeStep(catalog.Investigate, "the message trace failed: "+why)
		return
	}
	f.add(Check{Name: "message trace", Status: OK, Detail: "Get-MessageTraceV2 answers"})
}

func (c *Checker) checkProtected(ctx context.Context, f *findings) {
	configured, resolved, admins, err := c.Settings.Protected(ctx)
	switch {
	case configured == 0:
		f.add(Check{Name: "protected accounts", Status: Warn, Detail: "PROTECTED_ACCOUNTS is empty: no break-glass account is exempt from remediation",
			Fix: "az functionapp config appsettings set -g <resource group> -n <function app> --settings PROTECTED_ACCOUNTS=<break-glass UPN or object id>"})
	case resolved < configured:
		f.add(Check{Name: "protected accounts", Status: Warn, Detail: fmt.Sprintf("%d of %d PROTECTED_ACCOUNTS entries do not resolve to a user (they are matched only literally)", configured-resolved, configured),
			Fix: "correct PROTECTED_ACCOUNTS (UPNs or object ids, not mail addresses); the handler's log names the entries that did not resolve"})
	case err != nil:
		_, why := classify(err)
		f.add(Check{Name: "protected accounts", Status: Warn, Detail: "whether a protected account holds Global Administrator could not be read (" + why + ")"})
	case admins == 0:
		f.add(Check{Name: "protected accounts", Status: Warn, Detail: fmt.Sprintf("%d protected account(s) resolve, but none holds Global Administrator: the tenant has no break-glass account Tourniquet never touches", resolved),
			Fix: "name a break-glass account that holds Global Administrator in PROTECTED_ACCOUNTS"})
	default:
		f.add(Check{Name: "protected accounts", Status: OK, Detail: fmt.Sprintf("%d protected account(s) resolve; %d hold Global Administrator", resolved, admins)})
	}
}

func (c *Checker) checkSettings(f *findings) {
	s := c.Settings
	if s.RecordKeySet {
		f.add(Check{Name: "setting TOURNIQUET_RECORD_KEY", Status: OK, Detail: "run records are sealed with the deployment's key"})
	} else {
		f.add(Check{Name: "setting TOURNIQUET_RECORD_KEY", Status: Warn, Detail: "not set: run records verify only in this process, so runs in flight and restores fail after a restart",
			Fix: "az keyvault secret set --vault-name <vault> --name tourniquet-record-key --value \"$(openssl rand -base64 32)\"; then set TOURNIQUET_RECORD_KEY=@Microsoft.KeyVault(SecretUri=<secret uri>) (the recordKey parameter of infra/main.bicep)"})
	}
	switch {
	case s.AuthMode == "easyauth" && s.WebsiteAuthEnabled:
		f.add(Check{Name: "setting AUTH_MODE", Status: OK, Detail: "easyauth behind App Service authentication: callers need the app roles"})
	case s.AuthMode == "easyauth":
		f.add(Check{Name: "setting AUTH_MODE", Status: Fail, Detail: "AUTH_MODE=easyauth without App Service authentication (the handler refuses to start so)",
			Fix: "az webapp auth update -g <resource group> -n <function app> --enabled true --action Return401"})
	default:
		f.add(Check{Name: "setting AUTH_MODE", Status: OK, Detail: "function keys: give each caller keys of the functions it calls only, never a host key (docs/deploy.md)"})
	}
	mode := s.ApprovalMode
	if mode == "" {
		mode = "none"
	}
	f.add(Check{Name: "setting APPROVAL_MODE", Status: OK, Detail: "APPROVAL_MODE=" + mode + " (the last usable Global Administrator always waits for a second person)"})
	if s.SweepMode == "remediate" {
		f.add(Check{Name: "setting SWEEP_MODE", Status: OK, Detail: "the restricted-users sweep remediates newly restricted users"})
	} else {
		f.add(Check{Name: "setting SWEEP_MODE", Status: OK, Detail: "the restricted-users sweep only records dry runs (report); switch to remediate once you trust it"})
	}
}

func (c *Checker) report(f *findings) Report {
	// The probes finished in any order: checks are listed in a fixed one.
	sort.SliceStable(f.checks, func(i, j int) bool { return checkOrder(f.checks[i].Name) < checkOrder(f.checks[j].Name) })
	r := Report{CheckedAt: c.now().UTC().Truncate(time.Second), Checks: f.checks, Status: Ready}
	rank := map[string]int{Ready: 0, Degraded: 1, Blocked: 2}
	for _, st := range catalog.Steps {
		sr := StepReport{Name: st.Name, Status: Ready, Reasons: []string{}}
		if len(f.blocked[st.Name]) > 0 {
			sr.Status, sr.Reasons = Blocked, dedupe(f.blocked[st.Name])
		} else if len(f.degrade[st.Name]) > 0 {
			sr.Status, sr.Reasons = Degraded, dedupe(f.degrade[st.Name])
		}
		r.Steps = append(r.Steps, sr)
		if st.Default && rank[sr.Status] > rank[r.Status] {
			r.Status = sr.Status
		}
	}
	return r
}

// classify turns a read's failure into words and says whether it is a refusal (blocked)
// or a failure that may pass (degraded).
func classify(err error) (string, string) {
	var ge *graph.Error
	if errors.As(err, &ge) {
		if ge.Status == http.StatusUnauthorized || ge.Status == http.StatusForbidden {
			return Blocked, fmt.Sprintf("Microsoft Graph answered %d %s", ge.Status, orUnknown(ge.Code))
		}
		if ge.Status != 0 {
			return Degraded, fmt.Sprintf("Microsoft Graph answered %d %s", ge.Status, orUnknown(ge.Code))
		}
	}
	var xe *exchange.Error
	if errors.As(err, &xe) {
		if xe.Status == http.StatusUnauthorized || xe.Status == http.StatusForbidden {
			return Blocked, fmt.Sprintf("Exchange Online answered %d", xe.Status)
		}
		return Degraded, fmt.Sprintf("Exchange Online answered %d", xe.Status)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Degraded, "no answer in time"
	}
	return Degraded, oneLine(err)
}

func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkOrder lists the checks as a person reads them: tokens and permissions, directory
// roles, Exchange, licences, protected accounts, settings.
func checkOrder(name string) int {
	for i, prefix := range []string{"graph-token", "graph-permission", "exchange-token", "directory-role", "exchange read", "audit log", "message trace", "graph message trace", "licence", "protected", "setting"} {
		if strings.HasPrefix(name, prefix) {
			return i
		}
	}
	return 99
}
