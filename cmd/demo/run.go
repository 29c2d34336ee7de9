package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/hostemu"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "handler")); err != nil {
		return fmt.Errorf("no handler executable in %s: run `make demo` (it builds one)", root)
	}
	out := &report{w: stdout}

	out.title("Starting Azurite, the tenant simulator and the handler")
	store, err := azurite.Start(ctx)
	if err != nil {
		return fmt.Errorf("azurite: %w", err)
	}
	defer store.Stop()

	sim := tenantsim.New(tenantsim.Options{})
	if _, err := sim.Start(); err != nil {
		return fmt.Errorf("tenant simulator: %w", err)
	}
	defer sim.Close()
	demo := tenantsim.SeedDemo(sim)

	logPath := filepath.Join(os.TempDir(), "tourniquet-demo-handler.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	host, err := hostemu.Start(ctx, hostemu.Options{
		AppRoot:                 root,
		StorageConnectionString: store.ConnectionString,
		Output:                  logFile,
		Env: []string{
			"AzureWebJobsStorage=" + store.ConnectionString,
			"AZURE_TENANT_ID=" + sim.TenantID(),
			"GRAPH_BASE_URL=" + sim.GraphURL(),
			"EXCHANGE_BASE_URL=" + sim.ExchangeURL(),
			"IDENTITY_ENDPOINT=" + sim.IdentityEndpoint(),
			"IDENTITY_HEADER=" + sim.IdentityHeader(),
			"PROTECTED_ACCOUNTS=" + demo.BreakGlassUPN,
			// On Azure a Key Vault reference; here a key of this demo (run records verify
			// across the handler's restarts within it).
			"TOURNIQUET_RECORD_KEY=" + newRecordKey(),
			"SWEEP_MODE=report",
			"SWEEP_SCHEDULE=0 */15 * * * *",
			// A short interval, so the demo shows the eviction watch at work in seconds.
			"WATCH_INTERVAL=2s",
		},
	})
	if err != nil {
		return fmt.Errorf("host emulator: %w", err)
	}
	defer host.Stop()
	api := &client{base: host.URL()}
	out.line("handler log (JSON lines): %s", logPath)

	out.title("0. The preflight (GET /api/preflight, tourniquet doctor): what will work in this tenant")
	var pre struct {
		Status string `json:"status"`
		Checks []struct {
			Name, Status, Detail string
		} `json:"checks"`
		Steps []struct {
			Name, Status string
			Reasons      []string
		} `json:"steps"`
	}
	if _, err := api.get(ctx, "/api/preflight", &pre); err != nil {
		return err
	}
	ready := 0
	for _, st := range pre.Steps {
		if st.Status == "ready" {
			ready++
		} else {
			out.line("  %-28s %s: %s", st.Name, st.Status, strings.Join(st.Reasons, "; "))
		}
	}
	out.line("%s: %d of %d steps ready, %d checks", pre.Status, ready, len(pre.Steps), len(pre.Checks))
	for _, c := range pre.Checks {
		if c.Status != "ok" {
			out.line("  %s %s: %s", c.Status, c.Name, c.Detail)
		}
	}

	out.title("Before: " + demo.UPN)
	out.tenantState(sim, demo.UPN, demo.UserID)

	out.title("1. Full containment: every step of GET /api/steps (POST /api/remediations, mode sync)")
	var doc runs.Run
	status, err := api.post(ctx, "/api/remediations", map[string]any{
		"user": demo.UPN, "mode": "sync", "reason": "Demo: impossible-travel sign-in and external forwarding (incident 4711)",
		"idempotencyKey": "demo-incident-4711", "steps": demoSteps,
		"options": demoOptions,
	}, &doc)
	if err != nil {
		return err
	}
	out.run(status, &doc)
	resets := sim.PasswordResets(demo.UserID)
	logText, _ := os.ReadFile(logPath)
	docText, _ := json.Marshal(doc)
	leaked := false
	for _, r := range resets {
		leaked = leaked || strings.Contains(string(logText), r.Password) || strings.Contains(string(docText), r.Password)
	}
	if leaked {
		return fmt.Errorf("the new password appears in the handler log or the run document")
	}
	out.line("password resets seen by the tenant: %d; checked: the new password is in no response and no log line", len(resets))

	out.title("After: " + demo.UPN)
	out.tenantState(sim, demo.UPN, demo.UserID)

	out.title("1b. The eviction watch: the attacker comes back with a stolen token and sets forwarding again")
	if err := showWatch(ctx, api, sim, demo, &doc, out); err != nil {
		return err
	}

	out.title("2. The same request again (same idempotency key): the first run, not a second one")
	var replay runs.Run
	status, err = api.post(ctx, "/api/remediations", map[string]any{"user": demo.UPN, "mode": "sync", "idempotencyKey": "demo-incident-4711", "steps": demoSteps,
		"options": demoOptions}, &replay)
	if err != nil {
		return err
	}
	out.line("HTTP %d, runId %s (first run %s)", status, replay.RunID, doc.RunID)

	out.title("3. Async remediation of a user synced from on-premises AD (through the step queues)")
	var async runs.Run
	status, err = api.post(ctx, "/api/remediations", map[string]any{"user": demo.SyncedUPN, "reason": "Demo: synced account reported by the user"}, &async)
	if err != nil {
		return err
	}
	out.line("HTTP %d, run %s %s; waiting for the queues...", status, async.RunID, async.Status)
	final, err := api.waitFinal(ctx, async.RunID, 60*time.Second)
	if err != nil {
		return err
	}
	out.run(http.StatusOK, final)

	out.title("4. A break-glass account is never touched")
	var refusal map[string]any
	status, err = api.post(ctx, "/api/remediations", map[string]any{"user": demo.BreakGlassUPN}, &refusal)
	if err != nil {
		return err
	}
	out.line("HTTP %d %v: %v", status, refusal["code"], refusal["detail"])

	out.title("5. The restricted-users sweep (timer, SWEEP_MODE=report)")
	sim.BlockSender(demo.AssistantUPN, time.Now().Add(-5*time.Minute))
	if st, err := host.FireTimer(ctx, "timer-sweep"); err != nil || st != http.StatusOK {
		return fmt.Errorf("sweep: status %d: %v", st, err)
	}
	var sweeps []runs.SweepRecord
	if _, err := api.get(ctx, "/api/sweeps", &sweeps); err != nil {
		return err
	}
	if len(sweeps) > 0 {
		s := sweeps[0]
		out.line("sweep %s: %d restricted, outcome %s, runs recorded: %v %s", s.Mode, s.Restricted, s.Outcome, s.Started, s.Message)
		for _, id := range s.Started {
			var r runs.Run
			if _, err := api.get(ctx, "/api/remediations/"+id, &r); err == nil {
				out.line("  %s: %s for %s (dry run %v)", r.RunID, r.Status, r.User.UserPrincipalName, r.DryRun)
			}
		}
	}

	// The person who clears the account gives back what the user had: a restore that names
	// no step. The delegates, the app consent and the device registered during the
	// compromise were the attacker's, so they come back only when their step is named.
	out.title("6. Restore of run " + doc.RunID + " once the account is cleared (no steps named: the user's own access)")
	var restored struct {
		Items []runs.RestoreItem `json:"items"`
	}
	status, err = api.post(ctx, "/api/remediations/"+doc.RunID+"/restore", map[string]any{}, &restored)
	if err != nil {
		return err
	}
	for _, item := range restored.Items {
		out.line("HTTP %d  %-28s %-16s %s %s", status, item.Step, item.Result, item.Target, item.Problem())
	}
	out.line("not restored: the attacker's delegates, app consent and device (they come back only when their step is named),")
	out.line("and, by design, the password, the sessions, forwarding, inbox rules and MFA methods (the user registers again)")
	out.title("After the restore: " + demo.UPN)
	out.tenantState(sim, demo.UPN, demo.UserID)

	out.title("7. The report page of run " + doc.RunID + " (GET /api/remediations/{runId}/report)")
	page, err := api.getPage(ctx, "/api/remediations/"+doc.RunID+"/report")
	if err != nil {
		return err
	}
	reportPath := filepath.Join(os.TempDir(), "tourniquet-demo-report.html")
	if err := os.WriteFile(reportPath, page, 0o600); err != nil {
		return err
	}
	out.line("%d bytes, one self-contained page to read or print: %s", len(page), reportPath)
	out.title("Done")
	return nil
}

type client struct{ base string }

func (c *client) post(ctx context.Context, path string, body, into any) (int, error) {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, into)
}

func (c *client) get(ctx context.Context, path string, into any) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	return c.do(req, into)
}

// getPage returns a text/html answer as sent.
func (c *client) getPage(ctx context.Context, path string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return nil, fmt.Errorf("GET %s: HTTP %d %s: %.200s", path, resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	return data, nil
}

func (c *client) do(req *http.Request, into any) (int, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, into); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", req.Method, req.URL.Path, resp.StatusCode, data)
	}
	return resp.StatusCode, nil
}

func (c *client) waitFinal(ctx context.Context, runID string, limit time.Duration) (*runs.Run, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var r runs.Run
		if _, err := c.get(ctx, "/api/remediations/"+runID, &r); err != nil {
			return nil, err
		}
		if r.Status != runs.Queued && r.Status != runs.Running {
			return &r, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("run %s did not finish within %s", runID, limit)
}

// report prints the demo's human-readable output.
type report struct{ w io.Writer }

func (r *report) title(s string) { fmt.Fprintf(r.w, "\n== %s\n", s) }
func (r *report) line(format string, args ...any) {
	fmt.Fprintf(r.w, "   "+format+"\n", args...)
}

func (r *report) tenantState(sim *tenantsim.Sim, upn, userID string) {
	mb := sim.Mailbox(upn)
	r.line("forwarding: smtp=%q address=%q deliverAndForward=%v", mb.ForwardingSmtpAddress, mb.ForwardingAddress, mb.DeliverToMailboxAndForward)
	rules := sim.InboxRules(upn)
	enabled := 0
	for _, rule := range rules {
		if rule.Enabled {
			enabled++
		}
	}
	r.line("inbox rules: %d (%d enabled)", len(rules), enabled)
	for _, rule := range rules {
		hidden := ""
		if rule.Hidden {
			hidden = " [hidden]"
		}
		r.line("  - %-40q enabled=%v%s", rule.Name, rule.Enabled, hidden)
	}
	r.line("direct/PIM-active role assignments: %d, PIM eligible: %d", len(sim.RoleAssignments(userID)), len(sim.EligibleRoles(userID)))
	blocked := false
	for _, b := range sim.BlockedSenders() {
		if strings.EqualFold(b.SenderAddress, upn) {
			blocked = true
		}
	}
	r.line("on the Restricted users list: %v; sessions revoked so far: %d", blocked, sim.SessionsRevoked(userID))
	if u, ok := sim.User(userID); ok {
		r.line("sign-in enabled: %v", u.AccountEnabled)
	}
	var devices []string
	for _, id := range sim.UserDeviceIDs(userID) {
		if d, ok := sim.GetDevice(id); ok {
			devices = append(devices, fmt.Sprintf("%s (%s, registered %s) enabled=%v", d.DisplayName, d.OperatingSystem, d.Registered.Format("2006-01-02 15:04"), d.AccountEnabled))
		}
	}
	r.line("devices: %d", len(devices))
	for _, d := range devices {
		r.line("  - %s", d)
	}
	var methods []string
	for _, m := range sim.AuthMethods(userID) {
		methods = append(methods, m.Type)
	}
	r.line("authentication methods besides the password: %d %v", len(methods), methods)
	var consents []string
	for _, g := range sim.PermissionGrants(userID) {
		consents = append(consents, g.Scope)
	}
	r.line("app consents of the user: %d %q", len(consents), consents)
	var off []string
	for name, v := range sim.MailProtocols(upn) {
		if tenantsim.MailProtocolOff(name, v) {
			off = append(off, name)
		}
	}
	sort.Strings(off)
	r.line("mail protocols turned off: %v", off)
	var groups []string
	for _, g := range sim.RoleGroupNames() {
		if slices.ContainsFunc(sim.RoleGroupMembers(g), func(id string) bool { return strings.EqualFold(id, userID) }) {
			groups = append(groups, g)
		}
	}
	r.line("Exchange admin role groups: %v", groups)
	var delegates []string
	for _, p := range sim.MailboxPermissions(upn) {
		if !p.IsInherited && !p.Deny && !strings.HasPrefix(p.User, "NT AUTHORITY") {
			delegates = append(delegates, "FullAccess:"+p.User)
		}
	}
	for _, p := range sim.RecipientPermissions(upn) {
		if !p.IsInherited && p.AccessControlType != "Deny" && !strings.HasPrefix(p.Trustee, "NT AUTHORITY") {
			delegates = append(delegates, "SendAs:"+p.Trustee)
		}
	}
	for _, p := range sim.SendOnBehalf(upn) {
		delegates = append(delegates, "SendOnBehalf:"+p)
	}
	r.line("mailbox delegates: %v", delegates)
}

func (r *report) run(status int, run *runs.Run) {
	r.line("HTTP %d  run %s  status %s  user %s  requestedBy %s", status, run.RunID, run.Status, run.User.UserPrincipalName, run.RequestedBy)
	for _, s := range run.Steps {
		r.line("  %-20s %-16s attempts=%d %s", s.Name, s.Status, s.Attempts, s.Message)
		for _, c := range s.Changes {
			r.line("      %-28s %s", c.Action, c.Target)
			for _, why := range c.Reasons {
				r.line("          why: %s", why)
			}
		}
		if s.Error != nil {
			r.line("      error %s: %s", s.Error.Code, s.Error.Message)
		}
		r.findings(s.Findings)
	}
	if run.Error != nil {
		r.line("  run error %s: %s", run.Error.Code, run.Error.Message)
	}
}

// newRecordKey is a TOURNIQUET_RECORD_KEY for this demo: 32 random bytes, base64, as
// `openssl rand -base64 32` makes one for a deployment.
func newRecordKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// showWatch waits for the watch's first check (the baseline), plays the attacker's return (a
// successful sign-in from the attacker's address, forwarding set again), and prints what the
// watch saw and the re-containing run it started.
func showWatch(ctx context.Context, api *client, sim *tenantsim.Sim, demo tenantsim.Demo, doc *runs.Run, out *report) error {
	if doc.Watch == nil {
		return fmt.Errorf("the run has no eviction watch")
	}
	out.line("watch until %s, a check every %s, looking at: %s", doc.Watch.Until.Format(time.RFC3339), doc.Watch.Interval, strings.Join(doc.Watch.Checked, "; "))
	var run runs.Run
	waitUntil := func(limit time.Duration, done func() bool) error {
		deadline := time.Now().Add(limit)
		for {
			if _, err := api.get(ctx, "/api/remediations/"+doc.RunID, &run); err != nil {
				return err
			}
			if done() {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the watch of run %s did not get there within %s", doc.RunID, limit)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	if err := waitUntil(20*time.Second, func() bool { return run.Watch != nil && run.Watch.Checks >= 1 }); err != nil {
		return err
	}
	sim.AddSignIn(tenantsim.SignIn{UserID: demo.UserID, Time: time.Now().UTC(), App: "Office 365 Exchange Online", ClientApp: "Mobile Apps and Desktop clients",
		IP: tenantsim.AttackerIP, City: "Lagos", Country: tenantsim.AttackerCountry})
	sim.SetForwarding(demo.UPN, "smtp:again@fin-secure.example", "", true)
	out.line("the attacker: a successful sign-in from %s, and forwarding set to again@fin-secure.example", tenantsim.AttackerIP)
	if err := waitUntil(30*time.Second, func() bool { return len(run.Watch.Hits) > 0 && len(run.Watch.RecontainRuns) > 0 }); err != nil {
		return err
	}
	for _, h := range run.Watch.Hits {
		out.line("  hit (%s) %s", h.Kind, h.Detail)
	}
	re, err := api.waitFinal(ctx, run.Watch.RecontainRuns[0], 60*time.Second)
	if err != nil {
		return err
	}
	out.line("verdict %s; re-containing run %s (parentRunId %s): %s", run.Watch.Verdict, re.RunID, re.ParentRunID, re.Status)
	for _, st := range re.Steps {
		out.line("  %-18s %s", st.Name, st.Status)
	}
	out.line("forwarding now %q", sim.Mailbox(demo.UPN).ForwardingSmtpAddress)
	return nil
}
