package remediation_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/tourniquet/tourniquet/internal/apperr"
	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// grants lists the requests that could grant privilege back.
func grants(e *env) []string {
	var out []string
	for _, w := range writes(e.sim) {
		if !strings.HasPrefix(w, "DELETE") {
			out = append(out, w)
		}
	}
	return out
}

func TestRestoreIsRefusedUntilTheAccountIsSecured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"remove-admin-roles"}})
	if run.Status != runs.Succeeded {
		t.Fatalf("removal: %s\n%s", run.Status, dump(run))
	}
	e.sim.ResetRequests()
	for _, restore := range []func(context.Context, remediation.RestoreRequest) (*remediation.Restored, error){e.svc.Restore, e.svc.RestoreAdminRoles} {
		if _, err := restore(ctx, remediation.RestoreRequest{RunID: run.RunID}); apperr.CodeOf(err) != apperr.NotSecured {
			t.Fatalf("restore of an unsecured account: %v, want account_not_secured", err)
		}
		if _, err := restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Force: true, Reason: "  "}); apperr.CodeOf(err) != apperr.Invalid {
			t.Fatalf("force without a reason: %v, want invalid_request", err)
		}
	}
	if g := grants(e); len(g) > 0 {
		t.Fatalf("a refused restore granted: %v", g)
	}
	if n := len(e.get(run.RunID).Restorations); n != 0 {
		t.Fatalf("%d restorations recorded for refused requests", n)
	}

	// Forced with a reason: restored, and the reason is on record.
	forced, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID, Force: true, Reason: "INC-7: false positive, approved by CISO", RequestedBy: "soc-lead"})
	if err != nil {
		t.Fatal(err)
	}
	if len(forced.Items) == 0 || len(e.sim.RoleAssignments(e.demo.UserID)) == 0 {
		t.Fatalf("forced restore: %+v", forced.Items)
	}
	for _, it := range forced.Items {
		if it.Step != "remove-admin-roles" || it.Result != "restored" || it.Target == "" {
			t.Errorf("item %+v", it)
		}
	}
	rec := e.get(run.RunID).Restorations
	if len(rec) != 1 || !rec[0].Force || rec[0].Reason != "INC-7: false positive, approved by CISO" || rec[0].RequestedBy != "soc-lead" || rec[0].Status != "succeeded" {
		t.Fatalf("restoration record %+v", rec)
	}

	// A later run that secures the account lets a plain restore through.
	later := e.start(remediation.StartRequest{User: e.demo.UserID, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions"}})
	if !later.Secured() {
		t.Fatalf("later run did not secure: %s", dump(later))
	}
	again, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID})
	if err != nil {
		t.Fatalf("restore after a later securing run: %v", err)
	}
	for _, it := range again.Items {
		if it.Result != "already_present" {
			t.Errorf("second restore item %+v", it)
		}
	}
}

func TestRestoreGrantsNothingAForgedRecordAsks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	ctx := context.Background()
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions", "remove-admin-roles"}})
	if run.Status != runs.Succeeded {
		t.Fatalf("run: %s\n%s", run.Status, dump(run))
	}
	// Someone with write access to the run-record table (but not the record key) turns a
	// recorded direct assignment into Global Administrator and adds an item of their own.
	step := run.Step("remove-admin-roles")
	forged := -1
	for i, c := range step.Changes {
		if m, ok := c.Restore.(map[string]any); ok && m["kind"] == steps.GrantDirect && forged < 0 {
			m["roleDefinitionId"] = steps.GlobalAdministratorTemplateID
			forged = i
		}
	}
	if forged < 0 {
		t.Fatalf("no direct assignment recorded: %s", dump(run))
	}
	step.Changes = append(step.Changes, runs.Change{Action: "removed", Target: "planted", Restore: map[string]any{
		"kind": steps.GrantDirect, "principalId": e.demo.UserID, "roleDefinitionId": steps.GlobalAdministratorTemplateID, "directoryScopeId": "/"}})
	if err := e.svc.Store.UpdateStep(ctx, run.RunID, step); err != nil {
		t.Fatal(err)
	}
	restored, err := e.svc.Restore(ctx, remediation.RestoreRequest{RunID: run.RunID})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range e.sim.RoleAssignments(e.demo.UserID) {
		if strings.EqualFold(a.RoleDefinitionID, steps.GlobalAdministratorTemplateID) {
			t.Fatal("a forged record granted Global Administrator")
		}
	}
	var failed, ok int
	for _, it := range restored.Items {
		switch {
		case it.Result == "failed" && it.Error != nil && it.Error.Code == "record_tampered" && strings.Contains(it.Error.Message, "seal"):
			failed++
		case it.Result == "restored":
			ok++
		default:
			t.Errorf("item %+v", it)
		}
	}
	if failed != 2 || ok != len(step.Changes)-2 {
		t.Fatalf("%d failed, %d restored: %+v", failed, ok, restored.Items)
	}
	if last := e.get(run.RunID).Restorations[0]; last.Status != "failed" || last.Error == nil {
		t.Fatalf("restoration %+v", last)
	}
}

func TestRestoreOnARunFromAnotherKeyGrantsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{RecordKey: remediation.NewRecordKey()})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions", "remove-admin-roles"}})
	e.sim.ResetRequests()
	other := &remediation.Service{Store: e.svc.Store, Runner: e.svc.Runner, Queue: e.queue, Log: e.svc.Log, Config: remediation.Config{RecordKey: remediation.NewRecordKey()}}
	restored, err := other.Restore(context.Background(), remediation.RestoreRequest{RunID: run.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if g := grants(e); len(g) > 0 || len(restored.Items) == 0 {
		t.Fatalf("grants %v items %+v", g, restored.Items)
	}
	for _, it := range restored.Items {
		if it.Result != "failed" {
			t.Errorf("item %+v", it)
		}
	}
}

// failingTables is a table service behind a proxy that fails every write while fail is set.
func failingTables(t *testing.T) (*aztables.ServiceClient, *atomic.Bool) {
	t.Helper()
	fail := &atomic.Bool{}
	svc := proxiedTables(t, func(w http.ResponseWriter, r *http.Request, azurite http.Handler) {
		if fail.Load() && r.Method != http.MethodGet {
			http.Error(w, `{"odata.error":{"code":"ServerBusy","message":{"value":"injected"}}}`, http.StatusServiceUnavailable)
			return
		}
		azurite.ServeHTTP(w, r)
	})
	return svc, fail
}

// proxiedTables is a table service whose requests go to serve first, with the proxy that
// passes a request on to Azurite. Its client does not retry.
func proxiedTables(t *testing.T, serve func(w http.ResponseWriter, r *http.Request, azurite http.Handler)) *aztables.ServiceClient {
	t.Helper()
	inst, err := azurite.Shared(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var target string
	for _, part := range strings.Split(inst.ConnectionString, ";") {
		if v, ok := strings.CutPrefix(part, "TableEndpoint="); ok {
			target = v
		}
	}
	u, err := url.Parse(target)
	if err != nil || target == "" {
		t.Fatalf("table endpoint %q: %v", target, err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, proxy) }))
	t.Cleanup(srv.Close)
	conn := strings.Replace(inst.ConnectionString, "TableEndpoint="+target, "TableEndpoint="+srv.URL+u.Path, 1)
	svc, err := aztables.NewServiceClientFromConnectionString(conn, &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestRestoreThatCannotBeRecordedGrantsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	svc, fail := failingTables(t)
	store, err := runs.Open(context.Background(), svc, fmt.Sprintf("RF%d%d", time.Now().UnixNano()%1e6, prefixes.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Store = store
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions", "remove-admin-roles"}})
	if run.Status != runs.Succeeded {
		t.Fatalf("run: %s\n%s", run.Status, dump(run))
	}
	e.sim.ResetRequests()
	fail.Store(true)
	_, err = e.svc.Restore(context.Background(), remediation.RestoreRequest{RunID: run.RunID})
	fail.Store(false)
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("restore with the store refusing writes: %v, want store_unavailable", err)
	}
	if g := grants(e); len(g) > 0 {
		t.Fatalf("granted without a record: %v", g)
	}
	if len(e.sim.RoleAssignments(e.demo.UserID)) != 0 {
		t.Fatal("roles came back without a record")
	}
}

func blocked(e *env, address string) bool {
	for _, b := range e.sim.BlockedSenders() {
		if strings.EqualFold(b.SenderAddress, address) {
			return true
		}
	}
	return false
}

func TestOneStepUnblockSenderNeedsARecentRunThatSecuredTheAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	one := func(opts string) *runs.Run {
		req := remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"unblock-sender"}}
		if opts != "" {
			req.Options = []byte(opts)
		}
		return e.start(req)
	}
	// No run secured the account: skipped, still restricted.
	run := one("")
	if st := run.Step("unblock-sender"); st.Status != runs.StepSkipped || !strings.Contains(st.Message, "no run has secured the account") || !blocked(e, e.demo.UPN) {
		t.Fatalf("step %+v, blocked %v", st, blocked(e, e.demo.UPN))
	}
	// Force needs a reason.
	if _, err := e.svc.Start(context.Background(), remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"unblock-sender"}, Options: []byte(`{"unblockSender":{"force":true}}`)}); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("force without a reason: %v", err)
	}
	// Forced with a reason: acts, and the reason is in the step.
	run = one(`{"unblockSender":{"force":true,"reason":"INC-12: user verified by phone"}}`)
	if st := run.Step("unblock-sender"); st.Status != runs.StepSucceeded || !strings.Contains(st.Message, "INC-12: user verified by phone") || blocked(e, e.demo.UPN) {
		t.Fatalf("forced step %+v", st)
	}

	// A run that secures the account, then a one-step unblock within 7 days acts.
	secured := e.start(remediation.StartRequest{User: e.demo.UserID, Mode: "sync", Steps: []string{"reset-password", "revoke-sessions"}})
	if !secured.Secured() {
		t.Fatalf("securing run: %s", dump(secured))
	}
	e.sim.BlockSender(e.demo.UPN, time.Now().Add(-time.Minute))
	run = one("")
	if st := run.Step("unblock-sender"); st.Status != runs.StepSucceeded || !strings.Contains(st.Message, secured.RunID) || blocked(e, e.demo.UPN) {
		t.Fatalf("after a securing run: %+v", st)
	}
	// Eight days later that run is too old.
	e.sim.BlockSender(e.demo.UPN, time.Now().Add(-time.Minute))
	e.svc.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	run = one("")
	if st := run.Step("unblock-sender"); st.Status != runs.StepSkipped || !strings.Contains(st.Message, "more than 7 days ago") || !blocked(e, e.demo.UPN) {
		t.Fatalf("8 days later: %+v", st)
	}
}

// A run that resets the password but leaves the attacker's sessions alive does not secure
// the account: its unblock-sender follows the one-step rule, and with no earlier securing
// run it does not act. With revoke-sessions in the run it acts (planned in a dry run).
func TestUnblockSenderAfterResetPasswordWithoutRevokeSessionsDoesNotAct(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	for _, list := range [][]string{{"reset-password", "unblock-sender"}, {"block-sign-in", "unblock-sender"}, {"revoke-sessions", "unblock-sender"}} {
		run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: list})
		if st := run.Step("unblock-sender"); st.Status != runs.StepSkipped || !strings.Contains(st.Message, "no run has secured the account") || !blocked(e, e.demo.UPN) {
			t.Fatalf("%v: unblock-sender %+v, blocked %v", list, st, blocked(e, e.demo.UPN))
		}
	}
	// Forced with a reason, it acts as a one-step unblock would.
	forced := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"reset-password", "unblock-sender"},
		Options: []byte(`{"unblockSender":{"force":true,"reason":"INC-9: sessions revoked by hand"}}`)})
	if st := forced.Step("unblock-sender"); st.Status != runs.StepSucceeded || !strings.Contains(st.Message, "INC-9") || blocked(e, e.demo.UPN) {
		t.Fatalf("forced: %+v", st)
	}
	e.sim.BlockSender(e.demo.UPN, time.Now().Add(-time.Minute))
	// A dry run that secures the account plans the unblock.
	dry := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", DryRun: true, Steps: []string{"reset-password", "revoke-sessions", "unblock-sender"}})
	if st := dry.Step("unblock-sender"); st.Status != runs.StepPlanned || !blocked(e, e.demo.UPN) {
		t.Fatalf("dry run: %+v\n%s", st, dump(dry))
	}
	// The run secures the account itself: it acts.
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Mode: "sync", Steps: []string{"block-sign-in", "revoke-sessions", "unblock-sender"}})
	if st := run.Step("unblock-sender"); st.Status != runs.StepSucceeded || blocked(e, e.demo.UPN) {
		t.Fatalf("securing run: %+v\n%s", st, dump(run))
	}
}

func TestOneStepUnblockSenderFromTheQueueFollowsTheSameRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Steps: []string{"unblock-sender"}, RequestedBy: "queue:step-unblock-sender"})
	e.drain(2)
	final := e.get(run.RunID)
	if st := final.Step("unblock-sender"); st.Status != runs.StepSkipped || !blocked(e, e.demo.UPN) {
		t.Fatalf("queued one-step unblock: %+v", st)
	}
}

func TestProtectedAccountIsCheckedAgainBeforeEveryStepByObjectID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	run := e.start(remediation.StartRequest{User: e.demo.UPN, Reason: "recorded before the account was protected"})
	// The setting changes (a restart) while the run's messages wait in the queues; the new
	// entry names the account by its UPN in another case, the run records it by id.
	e.svc.Config.Protected = []string{strings.ToUpper(e.demo.UPN), "ghost@contoso.example"}
	e.sim.ResetRequests()
	e.drain(1)
	if w := writes(e.sim); len(w) > 0 {
		t.Fatalf("writes reached a protected account: %v", w)
	}
	final := e.get(run.RunID)
	for _, st := range final.Steps {
		if st.Name == "unblock-sender" {
			continue // skipped: the others failed
		}
		if st.Status != runs.StepFailed || st.Error == nil || st.Error.Code != "protected_account" {
			t.Errorf("%s: %s %+v", st.Name, st.Status, st.Error)
		}
	}
	status := e.svc.Protected()
	if status.Resolved != 1 || len(status.Unresolved) != 1 || status.Unresolved[0] != "ghost@contoso.example" {
		t.Fatalf("protected status %+v", status)
	}
	if !strings.Contains(e.logs.String(), "ghost@contoso.example") {
		t.Fatal("the unresolved entry was not logged")
	}
}

func TestProtectedAccountsAreNeverMatchedByMail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, remediation.Config{})
	// An entry that is only another account's mail address (not its UPN) protects nothing:
	// lesser admins can set mail on an account.
	const id = "0b0b0b0b-0000-4000-8000-00000000b0b0"
	e.sim.AddUser(tenantsim.User{ID: id, UserPrincipalName: "mailtest@contoso.example", Mail: "breakglass-alias@contoso.example", AccountEnabled: true})
	e.svc.Config.Protected = []string{"breakglass-alias@contoso.example"}
	run, err := e.svc.Start(context.Background(), remediation.StartRequest{User: "mailtest@contoso.example", Steps: []string{"revoke-sessions"}, Mode: "sync"})
	if err != nil || run.Run.Status != runs.Succeeded {
		t.Fatalf("a mail entry refused the run: %v", err)
	}
	if st := e.svc.Protected(); st.Resolved != 0 || len(st.Unresolved) != 1 {
		t.Fatalf("a mail entry resolved: %+v", st)
	}
}

// A PROTECTED_ACCOUNTS entry that resolved once and does not resolve again (Graph failing,
// or the account renamed so its old UPN names nobody) keeps the object id it had: the
// break-glass account stays protected.
func TestProtectedAccountKeepsItsLastGoodObjectID(t *testing.T) {
	t.Parallel()
	for name, breakResolution := range map[string]func(e *env){
		"graph fails": func(e *env) { e.sim.FailNext(10, "/users/"+e.demo.BreakGlassUPN, 503) },
		"renamed": func(e *env) {
			u, _ := e.sim.User(e.demo.BreakGlassID)
			u.UserPrincipalName = "breakglass-renamed@contoso.example"
			e.sim.AddUser(u)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, remediation.Config{})
			e.svc.Config.Protected = []string{e.demo.BreakGlassUPN}
			if st := e.svc.ResolveProtected(context.Background()); st.Resolved != 1 {
				t.Fatalf("first resolution: %+v", st)
			}
			breakResolution(e)
			if st := e.svc.ResolveProtected(context.Background()); st.Resolved != 1 {
				t.Fatalf("second resolution forgot the object id: %+v", st)
			}
			_, err := e.svc.Start(context.Background(), remediation.StartRequest{User: e.demo.BreakGlassID, Mode: "sync", Steps: []string{"revoke-sessions"}})
			if apperr.CodeOf(err) != apperr.Protected {
				t.Fatalf("a run for the break-glass account after a failed resolution: %v", err)
			}
		})
	}
}
