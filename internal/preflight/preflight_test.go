package preflight

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
)

const (
	graphScope    = "https://graph.microsoft.com/.default"
	exchangeScope = "https://outlook.office365.com/.default"
	identityOID   = "a11d0000-0000-4000-8000-00000000001d"
)

// fullGraph is every Graph app role a fully configured deployment grants.
var fullGraph = []string{
	"User.Read.All", "User-PasswordProfile.ReadWrite.All", "User.RevokeSessions.All", "AuditLog.Read.All",
	"Directory.Read.All", "RoleManagement.ReadWrite.Directory", "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
	"GroupMember.ReadWrite.All", "User.EnableDisableAccount.All", "UserAuthenticationMethod.ReadWrite.All",
	"DelegatedPermissionGrant.ReadWrite.All", "Application.Read.All", "Domain.Read.All", "Device.ReadWrite.All",
	"ExchangeMessageTrace.Read.All",
}

func jwt(claims map[string]any) string {
	raw, _ := json.Marshal(claims)
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(raw) + ".c2ln"
}

// fakeCredential issues a JWT per scope carrying the given roles, or fails for a scope.
type fakeCredential struct {
	roles map[string][]string
	fail  map[string]error
}

func (f fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	scope := o.Scopes[0]
	if err := f.fail[scope]; err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: jwt(map[string]any{"oid": identityOID, "roles": f.roles[scope]}), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type fakeDirectory struct {
	roles            []graph.RoleAssignment
	rolesErr, pimErr error
	signInErr        error
	hang             bool
}

func (d fakeDirectory) wait(ctx context.Context) error {
	if d.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (d fakeDirectory) RoleAssignments(ctx context.Context, _ string) ([]graph.RoleAssignment, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	return d.roles, d.rolesErr
}
func (d fakeDirectory) EligibleSchedules(ctx context.Context, _ string) ([]graph.RoleSchedule, error) {
	return nil, errors.Join(d.wait(ctx), d.pimErr)
}
func (d fakeDirectory) SignIns(ctx context.Context, _ string, _ time.Time) ([]graph.SignIn, error) {
	return nil, errors.Join(d.wait(ctx), d.signInErr)
}

// fakeTraceDirectory is a directory that also offers Graph's message trace.
type fakeTraceDirectory struct {
	fakeDirectory
	traceErr error
}

func (d fakeTraceDirectory) MessageTraces(context.Context, []string, time.Time, time.Time) ([]graph.MessageTrace, error) {
	return nil, d.traceErr
}

type fakeMailboxes struct {
	domainsErr, blockedErr, traceErr error
	auditOff                         bool
}

func (m fakeMailboxes) AdminAuditLogConfig(context.Context) (exchange.AuditConfig, error) {
	return exchange.AuditConfig{UnifiedAuditLogIngestionEnabled: !m.auditOff}, nil
}
func (m fakeMailboxes) MessageTrace(context.Context, []string, time.Time, time.Time) ([]exchange.TracedMessage, error) {
	return nil, m.traceErr
}

func (m fakeMailboxes) AcceptedDomains(context.Context) ([]exchange.AcceptedDomain, error) {
	return []exchange.AcceptedDomain{{DomainName: "contoso.example"}}, m.domainsErr
}
func (m fakeMailboxes) BlockedSenders(context.Context, string) ([]exchange.BlockedSender, error) {
	return nil, m.blockedErr
}

var identityRoles = []graph.RoleAssignment{
	{RoleDefinitionID: rolePrivilegedAuthenticationAdmin, RoleName: "Privileged Authentication Administrator"},
	{RoleDefinitionID: roleExchangeAdministrator, RoleName: "Exchange Administrator"},
}

func configured() *Checker {
	return &Checker{
		Credential:    fakeCredential{roles: map[string][]string{graphScope: fullGraph, exchangeScope: {"Exchange.ManageAsApp"}}},
		Directory:     fakeDirectory{roles: identityRoles},
		Mailboxes:     fakeMailboxes{},
		GraphScope:    graphScope,
		ExchangeScope: exchangeScope,
		Settings: Settings{RecordKeySet: true, AuthMode: "functionkey", Protected: func(context.Context) (int, int, int, error) {
			return 1, 1, 1, nil
		}},
	}
}

// exchangeSteps maps every step that runs Exchange cmdlets to status.
func exchangeSteps(status string) map[catalog.Name]string {
	out := map[catalog.Name]string{}
	for name, n := range Needs {
		if n.Exchange {
			out[name] = status
		}
	}
	return out
}

func without(list []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == drop })
}

func step(r Report, name catalog.Name) StepReport {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return StepReport{}
}

func check(r Report, prefix string) Check {
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	return Check{}
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	graphAnswered := func(status int, code string) error {
		return &graph.Error{Op: "x", Status: status, Code: code, Message: code}
	}
	tests := map[string]struct {
		change     func(c *Checker)
		status     string
		steps      map[catalog.Name]string // step -> status; the others all
		all        string                  // the status of the steps not in steps; ready when empty
		reason     string                  // in the first changed step's reasons
		check      string                  // a check (by name prefix) ...
		checkState string                  // ... and its status
		fix        string                  // in its fix
	}{
		"fully configured": {change: func(*Checker) {}, status: Ready, check: "graph-token", checkState: OK},
		"no password permission": {
			change: func(c *Checker) {
				c.Credential = fakeCredential{roles: map[string][]string{graphScope: without(fullGraph, "User-PasswordProfile.ReadWrite.All"), exchangeScope: {"Exchange.ManageAsApp"}}}
			},
			status: Blocked, steps: map[catalog.Name]string{catalog.ResetPassword: Blocked}, reason: "User-PasswordProfile.ReadWrite.All",
			check: "graph-permission User-PasswordProfile.ReadWrite.All", checkState: Fail, fix: "appRoles[?value=='User-PasswordProfile.ReadWrite.All']"},
		"a broader role covers a narrower one": {
			change: func(c *Checker) {
				roles := append(without(without(fullGraph, "User.Read.All"), "GroupMember.ReadWrite.All"), "User.ReadWrite.All", "Group.ReadWrite.All")
				c.Credential = fakeCredential{roles: map[string][]string{graphScope: roles, exchangeScope: {"Exchange.ManageAsApp"}}}
			},
			status: Ready},
		// Without a permission only an option uses, the step does all it does by default: it
		// stays ready and a warning names the option and the fix.
		"no Device.ReadWrite.All: block-sign-in's disableDevices option is blocked": {
			change: func(c *Checker) {
				c.Credential = fakeCredential{roles: map[string][]string{graphScope: without(fullGraph, "Device.ReadWrite.All"), exchangeScope: {"Exchange.ManageAsApp"}}}
			},
			status: Ready, check: "graph-permission Device.ReadWrite.All", checkState: Warn, fix: "appRoles[?value=='Device.ReadWrite.All']"},
		"no ExchangeMessageTrace.Read.All: investigate reads sent mail from Exchange": {
			change: func(c *Checker) {
				c.Credential = fakeCredential{roles: map[string][]string{graphScope: without(fullGraph, "ExchangeMessageTrace.Read.All"), exchangeScope: {"Exchange.ManageAsApp"}}}
			},
			status: Ready, check: "graph-permission ExchangeMessageTrace.Read.All", checkState: Warn, fix: "ExchangeMessageTrace.Read.All"},
		"no Exchange.ManageAsApp": {
			change: func(c *Checker) {
				c.Credential = fakeCredential{roles: map[string][]string{graphScope: fullGraph}}
			},
			status: Blocked, steps: exchangeSteps(Blocked), reason: "Exchange.ManageAsApp", check: "exchange-token", checkState: Fail, fix: exchangeAppID},
		"no Graph token": {
			change: func(c *Checker) {
				c.Credential = fakeCredential{roles: map[string][]string{exchangeScope: {"Exchange.ManageAsApp"}}, fail: map[string]error{graphScope: errors.New("identity endpoint unreachable")}}
			},
			status: Blocked, all: Blocked, reason: "no Microsoft Graph token", check: "graph-token", checkState: Fail, fix: "identity assign"},
		"Exchange RBAC missing": {
			change: func(c *Checker) {
				c.Mailboxes = fakeMailboxes{domainsErr: &exchange.Error{Status: 403, Message: "denied"}}
			},
			status: Blocked, steps: exchangeSteps(Blocked), reason: "refuses", check: "exchange read Get-AcceptedDomain", checkState: Fail, fix: "Add-RoleGroupMember"},
		"no Privileged Authentication Administrator": {
			change: func(c *Checker) { c.Directory = fakeDirectory{roles: identityRoles[1:]} },
			status: Degraded, steps: map[catalog.Name]string{catalog.ResetPassword: Degraded, catalog.BlockSignIn: Degraded, catalog.RemoveMFAMethods: Degraded},
			reason: "Privileged Authentication Administrator", check: "directory-role Privileged Authentication Administrator", checkState: Warn, fix: rolePrivilegedAuthenticationAdmin},
		"no PIM licence": {
			change: func(c *Checker) {
				c.Directory = fakeDirectory{roles: identityRoles, pimErr: graphAnswered(400, "AadPremiumLicenseRequired")}
			},
			status: Degraded, steps: map[catalog.Name]string{catalog.RemoveAdminRoles: Degraded}, reason: "PIM", check: "licence PIM", checkState: Warn},
		"no sign-in logs licence": {
			change: func(c *Checker) {
				c.Directory = fakeDirectory{roles: identityRoles, signInErr: graphAnswered(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")}
			},
			status: Ready, steps: map[catalog.Name]string{catalog.Investigate: Degraded}, reason: "P1", check: "licence sign-in logs", checkState: Warn},
		"no break-glass account": {
			change: func(c *Checker) {
				c.Settings.Protected = func(context.Context) (int, int, int, error) { return 0, 0, 0, nil }
			},
			status: Ready, check: "protected accounts", checkState: Warn, fix: "PROTECTED_ACCOUNTS="},
		"audit log off": {
			change: func(c *Checker) { c.Mailboxes = fakeMailboxes{auditOff: true} },
			status: Ready, steps: map[catalog.Name]string{catalog.Investigate: Degraded}, reason: "UnifiedAuditLogIngestionEnabled",
			check: "audit log ingestion", checkState: Warn, fix: "Set-AdminAuditLogConfig -UnifiedAuditLogIngestionEnabled $true"},
		"message trace refused": {
			change: func(c *Checker) {
				c.Mailboxes = fakeMailboxes{traceErr: &exchange.Error{Status: 403, Message: "denied"}}
			},
			status: Ready, steps: map[catalog.Name]string{catalog.Investigate: Degraded}, reason: "message trace",
			check: "message trace", checkState: Warn, fix: "Message Tracking"},
		"graph message trace answers": {
			change: func(c *Checker) { c.Directory = fakeTraceDirectory{fakeDirectory: fakeDirectory{roles: identityRoles}} },
			status: Ready, check: "graph message trace", checkState: OK},
		"graph message trace without its service principal": {
			change: func(c *Checker) {
				c.Directory = fakeTraceDirectory{fakeDirectory: fakeDirectory{roles: identityRoles}, traceErr: &graph.Error{Status: 401, Code: "InvalidAuthenticationToken",
					Message: "Service principal-less authentication failed: The service principal for App ID 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found."}}
			},
			// Investigate falls back to Get-MessageTraceV2: a warning that names the fix, the
			// step stays ready.
			status: Ready, check: "graph message trace", checkState: Warn, fix: "az ad sp create --id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"},
		"graph message trace refused": {
			change: func(c *Checker) {
				c.Directory = fakeTraceDirectory{fakeDirectory: fakeDirectory{roles: identityRoles}, traceErr: &graph.Error{Status: 403, Code: "Authorization_RequestDenied", Message: "Insufficient privileges"}}
			},
			status: Ready, check: "graph message trace", checkState: Warn, fix: "ExchangeMessageTrace.Read.All"},
		"no record key": {
			change: func(c *Checker) { c.Settings.RecordKeySet = false },
			status: Ready, check: "setting TOURNIQUET_RECORD_KEY", checkState: Warn, fix: "openssl rand -base64 32"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := configured()
			tt.change(c)
			r := c.Run(context.Background())
			if r.Status != tt.status || len(r.Steps) != len(catalog.Steps) || r.CheckedAt.IsZero() {
				t.Fatalf("status %s (want %s), %d steps: %+v", r.Status, tt.status, len(r.Steps), r)
			}
			for _, s := range r.Steps {
				want := tt.steps[s.Name]
				if want == "" {
					want = cmp.Or(tt.all, Ready)
				}
				if s.Status != want {
					t.Errorf("%s: %s %v, want %s", s.Name, s.Status, s.Reasons, want)
				}
				if want != Ready && tt.reason != "" && !strings.Contains(strings.Join(s.Reasons, " "), tt.reason) {
					t.Errorf("%s: reasons %v do not name %q", s.Name, s.Reasons, tt.reason)
				}
			}
			if tt.check != "" {
				ch := check(r, tt.check)
				if ch.Status != tt.checkState || !strings.Contains(ch.Fix, tt.fix) {
					t.Errorf("check %q: %+v", tt.check, ch)
				}
			}
		})
	}
}

// A service that hangs costs one read's time, not the answer: the preflight answers with
// what did not answer named.
func TestPreflightAnswersWhenAServiceHangs(t *testing.T) {
	t.Parallel()
	c := configured()
	c.Directory = fakeDirectory{hang: true}
	c.ReadTimeout = 200 * time.Millisecond
	start := time.Now()
	r := c.Run(context.Background())
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
	if ch := check(r, "directory-role"); ch.Status != Warn || !strings.Contains(ch.Detail, "could not be read") {
		t.Fatalf("directory roles: %+v", ch)
	}
	if step(r, catalog.RemoveAdminRoles).Status != Degraded {
		t.Fatalf("remove-admin-roles: %+v", step(r, catalog.RemoveAdminRoles))
	}
}

// The answer is cached: a second call within CacheFor asks nothing again.
func TestPreflightIsCached(t *testing.T) {
	t.Parallel()
	calls := 0
	c := configured()
	c.Settings.Protected = func(context.Context) (int, int, int, error) { calls++; return 1, 1, 1, nil }
	now := time.Now()
	c.Now = func() time.Time { return now }
	c.Run(context.Background())
	c.Run(context.Background())
	if calls != 1 {
		t.Fatalf("%d preflights within the cache time", calls)
	}
	now = now.Add(CacheFor + time.Second)
	c.Run(context.Background())
	if calls != 2 {
		t.Fatalf("the cache outlived CacheFor")
	}
}

// Every step of the catalog has its needs written down.
func TestEveryCatalogStepHasItsNeeds(t *testing.T) {
	t.Parallel()
	for _, s := range catalog.Steps {
		if _, ok := Needs[s.Name]; !ok {
			t.Errorf("%s has no entry in Needs", s.Name)
		}
	}
}

// docs/permissions.md and Needs say the same: every Graph permission a step needs or works
// better with is in the document.
func TestPermissionsDocNamesEveryNeed(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "permissions.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range Needs {
		for _, p := range append(append(slices.Clone(n.Graph), everyStep...), sortedKeys(n.GraphOptional)...) {
			if !strings.Contains(string(doc), "`"+p+"`") {
				t.Errorf("%s needs %s, which docs/permissions.md does not name", name, p)
			}
		}
		for _, p := range sortedKeys(n.GraphForOptions) {
			if !strings.Contains(string(doc), "`"+p+"`") {
				t.Errorf("%s needs %s, which docs/permissions.md does not name", name, p)
			}
		}
	}
	if !strings.Contains(string(doc), "internal/preflight") {
		t.Error("docs/permissions.md does not say the preflight reads the same table")
	}
}

var update = flag.Bool("update", false, "rewrite the generated table in docs/permissions.md")

// docs/permissions.md carries the step -> needs table the preflight checks, generated from
// Needs: one source.
func TestPermissionsTableIsInSync(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "permissions.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, TableStart), strings.Index(text, TableEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/permissions.md has no generated table between %q and %q", TableStart, TableEnd)
	}
	want := text[:i] + TableStart + "\n" + NeedsTable() + text[j:]
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != text {
		t.Fatal("docs/permissions.md's step table is not what internal/preflight.Needs says (go test ./internal/preflight -run TestPermissionsTableIsInSync -update)")
	}
}

// Summary answers from the cache only: nothing before the first preflight.
func TestSummaryComesFromTheCacheOnly(t *testing.T) {
	t.Parallel()
	c := configured()
	if s := c.Summary(); s != "" {
		t.Fatalf("summary before any preflight: %q", s)
	}
	c.Run(context.Background())
	if s := c.Summary(); !strings.HasPrefix(s, "ready: 13 of 13 steps ready, checked ") {
		t.Fatalf("summary %q", s)
	}
}
