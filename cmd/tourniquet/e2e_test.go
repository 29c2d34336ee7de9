package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/azurite"
	"github.com/tourniquet/tourniquet/internal/functions"
	"github.com/tourniquet/tourniquet/internal/hostemu"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// The command line against the real handler binary under the host emulator, with Azurite
// and the tenant simulator: the same stack as cmd/handler's tests, started once here.

// stack is the running service the command line talks to.
type stack struct {
	sim    *tenantsim.Sim
	demo   tenantsim.Demo
	host   *hostemu.Host
	output *bytes.Buffer
}

// shared is the stack, started by the first test that needs it (the unit tests run without
// Azurite or a handler build) and stopped after the last.
var (
	shared    *stack
	stopStack func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stopStack != nil {
		stopStack()
	}
	os.Exit(code)
}

// service starts the stack once for every test that needs it.
func service(t *testing.T) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Azurite and the handler binary")
	}
	if shared != nil {
		return shared
	}
	s, stop, err := startStack()
	if err != nil {
		t.Fatal(err)
	}
	shared, stopStack = s, stop
	return s
}

func startStack() (*stack, func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	dir, err := os.MkdirTemp("", "tourniquet-cli-app-")
	if err != nil {
		return nil, stop, err
	}
	stops = append(stops, func() { os.RemoveAll(dir) })
	if err := functions.MakeAppRoot(dir, filepath.Join("..", "..")); err != nil {
		stop()
		return nil, func() {}, fmt.Errorf("app root: %w", err)
	}
	ctx := context.Background()
	storage, err := azurite.Start(ctx)
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	stops = append(stops, func() { _ = storage.Stop() })
	sim := tenantsim.New(tenantsim.Options{})
	if _, err := sim.Start(); err != nil {
		stop()
		return nil, func() {}, err
	}
	stops = append(stops, sim.Close)
	s := &stack{sim: sim, demo: tenantsim.SeedDemo(sim), output: &bytes.Buffer{}}
	host, err := hostemu.Start(ctx, hostemu.Options{
		AppRoot: dir, StorageConnectionString: storage.ConnectionString, Output: s.output,
		Env: []string{
			"AzureWebJobsStorage=" + storage.ConnectionString,
			"AZURE_TENANT_ID=" + sim.TenantID(),
			"GRAPH_BASE_URL=" + sim.GraphURL(),
			"EXCHANGE_BASE_URL=" + sim.ExchangeURL(),
			"IDENTITY_ENDPOINT=" + sim.IdentityEndpoint(),
			"IDENTITY_HEADER=" + sim.IdentityHeader(),
			"PROTECTED_ACCOUNTS=" + s.demo.BreakGlassUPN,
			"SWEEP_SCHEDULE=0 */15 * * * *",
		},
	})
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	stops = append(stops, func() { _ = host.Stop() })
	s.host = host
	return s, stop, nil
}

// cliResult is one run of the command line.
type cliResult struct {
	code           int
	stdout, stderr string
}

// tq runs the command line in process, with stdout a buffer (so: not a terminal, plain lines)
// and the address in TOURNIQUET_URL, as a script would.
func tq(t *testing.T, s *stack, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := map[string]string{"TOURNIQUET_URL": s.host.URL(), "TOURNIQUET_KEY": "test-key"}
	var out, errOut bytes.Buffer
	code := run(ctx, append([]string{"tourniquet"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	t.Logf("tourniquet %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return cliResult{code, out.String(), errOut.String()}
}

var runIDInHeader = regexp.MustCompile(`^run (\S+) for `)

func TestCLIRemediateFollowsTheRunThroughTheQueues(t *testing.T) {
	s := service(t)
	res := tq(t, s, "remediate", s.demo.UPN, "--reason", "INC-4711 impossible travel")
	if res.code != exitOK {
		t.Fatalf("exit %d, want %d\nstderr: %s\nhandler: %s", res.code, exitOK, res.stderr, s.output.String())
	}
	lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	m := runIDInHeader.FindStringSubmatch(lines[0])
	if m == nil || !strings.Contains(lines[0], s.demo.UPN) {
		t.Fatalf("first line %q: want the run header", lines[0])
	}
	runID := m[1]

	// Piped: one line per step as it finishes, each step once, in an order the run allows
	// (revoke-sessions after reset-password, unblock-sender last), then the closing line.
	want := []string{"reset-password", "revoke-sessions", "remove-forwarding", "remove-inbox-rules", "remove-admin-roles", "unblock-sender"}
	at := map[string]int{}
	for i, l := range lines {
		for _, name := range want {
			if strings.HasPrefix(l, fmt.Sprintf("  %-28s ", name)) {
				if _, dup := at[name]; dup {
					t.Errorf("step %s printed twice", name)
				}
				at[name] = i
				if !regexp.MustCompile(`^  \S+ +(succeeded|no_change) `).MatchString(l + " ") {
					t.Errorf("step line %q: want succeeded or no_change", l)
				}
			}
		}
	}
	if len(at) != len(want) {
		t.Fatalf("step lines for %v, want all of %v", at, want)
	}
	if at["revoke-sessions"] < at["reset-password"] {
		t.Errorf("revoke-sessions finished before reset-password in the output")
	}
	for _, name := range want[:5] {
		if at["unblock-sender"] < at[name] {
			t.Errorf("unblock-sender printed before %s", name)
		}
	}
	if !strings.Contains(res.stdout, "  remove-inbox-rules") || !regexp.MustCompile(`remove-inbox-rules +succeeded +[0-9.]+m?s; \d+ changes?`).MatchString(res.stdout) {
		t.Errorf("remove-inbox-rules line should say how long it took and how many rules changed")
	}
	if !strings.Contains(res.stdout, "run "+runID+" succeeded in ") {
		t.Errorf("no closing line for run %s", runID)
	}
	if strings.Contains(res.stdout, "\x1b[") {
		t.Errorf("escape sequences written to a pipe")
	}

	// status: the document, and --json the raw document.
	st := tq(t, s, "status", runID)
	if st.code != exitOK || !strings.Contains(st.stdout, "reason       INC-4711 impossible travel") || !strings.Contains(st.stdout, "why: ") {
		t.Errorf("status: exit %d\n%s", st.code, st.stdout)
	}
	js := tq(t, s, "status", runID, "--json")
	var doc struct {
		RunID, Status  string
		IdempotencyKey string
		Steps          []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil || js.code != exitOK {
		t.Fatalf("status --json: exit %d, not one JSON document: %v\n%s", js.code, err, js.stdout)
	}
	if doc.RunID != runID || doc.Status != "succeeded" || len(doc.Steps) != 6 || strings.Count(js.stdout, "\n") != 1 {
		t.Errorf("status --json: %+v", doc)
	}
	if !strings.HasPrefix(doc.IdempotencyKey, "cli-") {
		t.Errorf("idempotency key %q: the command line should send a fresh one", doc.IdempotencyKey)
	}

	// runs: the user's runs, this one among them.
	list := tq(t, s, "runs", s.demo.UPN)
	if list.code != exitOK || !strings.Contains(list.stdout, runID) {
		t.Errorf("runs: exit %d\n%s", list.code, list.stdout)
	}

	// restore: the admin roles the run removed come back (the account was secured).
	before := len(s.sim.RoleAssignments(s.demo.UserID))
	rs := tq(t, s, "restore", runID)
	if rs.code != exitOK || !regexp.MustCompile(`restore of run \S+: [1-9]\d* restored, \d+ already present, 0 failed`).MatchString(rs.stdout) {
		t.Fatalf("restore: exit %d\n%s%s", rs.code, rs.stdout, rs.stderr)
	}
	if after := len(s.sim.RoleAssignments(s.demo.UserID)); after <= before {
		t.Errorf("role assignments %d before restore, %d after: nothing granted again", before, after)
	}
	again := tq(t, s, "restore", runID, "--json")
	var restored struct {
		RunID string
		Items []struct{ Result string }
	}
	if err := json.Unmarshal([]byte(again.stdout), &restored); err != nil || again.code != exitOK || restored.RunID != runID || len(restored.Items) == 0 {
		t.Fatalf("restore --json: exit %d %v\n%s", again.code, err, again.stdout)
	}
	for _, it := range restored.Items {
		if it.Result != "already_present" {
			t.Errorf("second restore: item %s, want already_present", it.Result)
		}
	}

	// report: the page saved to a file.
	file := filepath.Join(t.TempDir(), "page.html")
	rp := tq(t, s, "report", runID, "-o", file)
	page, err := os.ReadFile(file)
	if rp.code != exitOK || err != nil || !bytes.Contains(page, []byte("<html")) || !bytes.Contains(page, []byte(s.demo.UPN)) {
		t.Errorf("report: exit %d, %v, %d bytes", rp.code, err, len(page))
	}
	if strings.TrimSpace(rp.stdout) != file {
		t.Errorf("report printed %q, want the path %s", rp.stdout, file)
	}
	rj := tq(t, s, "report", runID, "-o", file, "--json")
	var saved struct {
		RunID, Path string
		Bytes       int
	}
	if err := json.Unmarshal([]byte(rj.stdout), &saved); err != nil || rj.code != exitOK || saved.Path != file || saved.Bytes != len(page) {
		t.Errorf("report --json: exit %d %v %+v", rj.code, err, saved)
	}
}

func TestCLIExitCodesFollowTheRunStatus(t *testing.T) {
	s := service(t)
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // a line the output must hold
		stderr string
	}{
		{"a dry run is planned: success", []string{"remediate", s.demo.ManagerUPN, "--dry-run", "--steps", "remove-forwarding,remove-inbox-rules"}, exitOK, "run %s planned", ""},
		{"a synced user needs a person", []string{"remediate", s.demo.SyncedUPN, "--reason", "reported"}, exitActionRequired, "reset-password               action_required", ""},
		{"sync mode answers once", []string{"remediate", s.demo.AssistantUPN, "--sync", "--steps", "revoke-sessions"}, exitOK, "revoke-sessions              succeeded", ""},
		{"a break-glass account is refused", []string{"remediate", s.demo.BreakGlassUPN}, exitNotRun, "", "protected_account"},
		{"an unknown step is the API's 400", []string{"remediate", s.demo.UPN, "--steps", "reset-pasword"}, exitAPI, "", "Bad Request (HTTP 400, invalid_request) from POST /api/remediations"},
		{"an unknown run is the API's 404", []string{"status", "20261130t000000-0000000000000000"}, exitAPI, "", "(HTTP 404, not_found)"},
		{"--no-wait returns once the run is accepted", []string{"remediate", s.demo.ManagerUPN, "--steps", "remove-forwarding", "--no-wait"}, exitOK, "follow it: tourniquet watch ", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := tq(t, s, tc.args...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", res.code, tc.code, res.stdout, res.stderr)
			}
			want := tc.stdout
			if strings.Contains(want, "%s") {
				m := runIDInHeader.FindStringSubmatch(res.stdout)
				if m == nil {
					t.Fatalf("no run header in\n%s", res.stdout)
				}
				want = fmt.Sprintf(want, m[1])
			}
			if !strings.Contains(res.stdout, want) || !strings.Contains(res.stderr, tc.stderr) {
				t.Errorf("output lacks %q / %q", want, tc.stderr)
			}
		})
	}
}

func TestCLIStepsAndRestoreRefusal(t *testing.T) {
	s := service(t)
	steps := tq(t, s, "steps")
	if steps.code != exitOK || !regexp.MustCompile(`(?m)^reset-password +critical|^reset-password +\S+ +yes `).MatchString(steps.stdout) ||
		!strings.Contains(steps.stdout, "block-sign-in") {
		t.Errorf("steps: exit %d\n%s", steps.code, steps.stdout)
	}
	js := tq(t, s, "--json", "steps")
	var catalog []struct {
		Name    string
		Default bool
	}
	if err := json.Unmarshal([]byte(js.stdout), &catalog); err != nil || len(catalog) < 13 {
		t.Fatalf("steps --json: %v, %d entries", err, len(catalog))
	}

	// A run that secured nothing: restore is refused with 409, the hint names --force, and
	// --force without --reason never reaches the API.
	start := tq(t, s, "remediate", s.demo.UPN, "--steps", "remove-admin-roles", "--json")
	var run struct{ RunID, Status string }
	if err := json.Unmarshal([]byte(start.stdout), &run); err != nil || run.RunID == "" {
		t.Fatalf("remediate --json: not one document: %v\n%s", err, start.stdout)
	}
	refused := tq(t, s, "restore", run.RunID)
	if refused.code != exitAPI || !strings.Contains(refused.stderr, "account_not_secured") || !strings.Contains(refused.stderr, "--force --reason") {
		t.Errorf("restore of an unsecured run: exit %d\n%s", refused.code, refused.stderr)
	}
	if r := tq(t, s, "restore", run.RunID, "--force"); r.code != exitUsage {
		t.Errorf("--force without --reason: exit %d, want %d", r.code, exitUsage)
	}
	forced := tq(t, s, "restore", run.RunID, "--force", "--reason", "false positive, INC-4712")
	if forced.code != exitOK || !strings.Contains(forced.stdout, "0 failed") {
		t.Errorf("forced restore: exit %d\n%s%s", forced.code, forced.stdout, forced.stderr)
	}
}

// TestCLIOnATerminal runs the built command under a pseudo-terminal (util-linux script) of
// 60 columns: the view is drawn in place with cursor movement, each step ends on its own
// line with its mark, and no line is wider than the terminal.
func TestCLIOnATerminal(t *testing.T) {
	s := service(t)
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to make a pseudo-terminal")
	}
	bin := filepath.Join(t.TempDir(), "tourniquet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(scriptBin, "-qec", "stty cols 60 rows 40; exec "+bin+" remediate "+s.demo.AssistantUPN+" --steps revoke-sessions,remove-forwarding", "/dev/null")
	cmd.Env = append(os.Environ(), "TOURNIQUET_URL="+s.host.URL(), "TERM=xterm")
	cmd.Stdin = nil
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%q", err, out)
	}
	raw := string(out)
	if !strings.Contains(raw, "\x1b[3A\r\x1b[J") {
		t.Errorf("no in-place redraw of the 3-line block on a terminal:\n%q", raw)
	}
	lines := screen(t, raw)
	t.Logf("screen:\n%s", strings.Join(lines, "\n"))
	if len(lines) < 4 || !strings.HasPrefix(lines[1], "✓ revoke-sessions") || !strings.HasPrefix(lines[2], "= remove-forwarding") ||
		!regexp.MustCompile(`^run \S+ succeeded in `).MatchString(lines[3]) {
		t.Errorf("screen after the run: %q", lines)
	}
	for _, l := range lines[:3] {
		if n := len([]rune(l)); n >= 60 {
			t.Errorf("a line of %d columns on a 60-column terminal: %q", n, l)
		}
	}
	if !strings.HasSuffix(lines[2], "…") {
		t.Errorf("the long remove-forwarding line should be cut to fit: %q", lines[2])
	}
}

// tourniquet doctor against the real handler and the simulated tenant: the preflight of a
// configured deployment reads ready, and the command exits 0.
func TestDoctorAgainstTheHandler(t *testing.T) {
	s := service(t)
	res := tq(t, s, "doctor")
	if res.code != exitOK || !strings.Contains(res.stdout, "preflight ready") || !strings.Contains(res.stdout, "remove-admin-roles") {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
