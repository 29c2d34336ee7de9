package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/client"
)

// preflightAPI answers GET /api/preflight with a fixed preflight.
func preflightAPI(t *testing.T, p client.Preflight) map[string]string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/preflight" {
			problemAnswer(w, 404, "not_found", "no route")
			return
		}
		writeDoc(w, 200, p)
	}))
	t.Cleanup(srv.Close)
	return map[string]string{"TOURNIQUET_URL": srv.URL, "TOURNIQUET_KEY": "k"}
}

// The exit code says the preflight's verdict; piped, the table has no colour, and every
// check that needs a person is printed with its fix.
func TestDoctorExitCodeAndTable(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]int{"ready": exitOK, "degraded": exitActionRequired, "blocked": exitFailed} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			p := client.Preflight{Status: status,
				Steps:  []client.PreflightStep{{Name: "reset-password", Status: status, Reasons: []string{"the identity lacks User-PasswordProfile.ReadWrite.All"}}},
				Checks: []client.PreflightCheck{{Name: "graph-token", Status: "ok", Detail: "fine"}, {Name: "graph-permission X", Status: "fail", Detail: "missing \x1b[2Jx", Fix: "az rest ..."}}}
			res := cmdline(t, preflightAPI(t, p), "doctor")
			if res.code != want {
				t.Fatalf("exit %d, want %d\n%s%s", res.code, want, res.stdout, res.stderr)
			}
			for _, s := range []string{"preflight " + status, "reset-password", "User-PasswordProfile.ReadWrite.All", "graph-permission X", "fix: az rest ..."} {
				if !strings.Contains(res.stdout, s) {
					t.Errorf("the table does not say %q:\n%s", s, res.stdout)
				}
			}
			if strings.Contains(res.stdout, "\x1b") || strings.Contains(res.stdout, "graph-token") {
				t.Errorf("piped output has an escape, or lists a check that is ok:\n%q", res.stdout)
			}
			js := cmdline(t, preflightAPI(t, p), "doctor", "--json")
			var back client.Preflight
			if js.code != want || json.Unmarshal([]byte(js.stdout), &back) != nil || back.Status != status {
				t.Errorf("--json: exit %d %q", js.code, js.stdout)
			}
		})
	}
}

// On a pseudo-terminal the statuses are coloured.
func TestDoctorOnATerminal(t *testing.T) {
	t.Parallel()
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to make a pseudo-terminal")
	}
	env := preflightAPI(t, client.Preflight{Status: "degraded", Steps: []client.PreflightStep{{Name: "investigate", Status: "degraded", Reasons: []string{"no P1"}}}})
	bin := filepath.Join(t.TempDir(), "tourniquet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(scriptBin, "-qec", "stty cols 100 rows 40; exec "+bin+" doctor", "/dev/null")
	cmd.Env = append(os.Environ(), "TOURNIQUET_URL="+env["TOURNIQUET_URL"], "TERM=xterm")
	out, _ := cmd.Output() // exit 3: degraded
	if !strings.Contains(string(out), "\x1b[33mdegraded\x1b[0m") {
		t.Fatalf("no colour on a terminal:\n%q", out)
	}
}

// tourniquet watch follows a finished run's eviction watch to its verdict: a line per check
// and per hit, exit 3 when the attacker returned.
func TestWatchFollowsTheEvictionWatch(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	gets := 0
	until := time.Now().Add(time.Minute).UTC()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gets++
		n := gets
		mu.Unlock()
		first := until.Add(-50 * time.Second)
		watch := map[string]any{"until": until, "interval": "15m0s", "checks": 1, "lastCheckAt": first, "verdict": "watching",
			"hits": []any{}, "recontainRuns": []any{}, "unavailable": []any{}}
		if n >= 4 {
			watch = map[string]any{"until": until, "interval": "15m0s", "checks": 2, "lastCheckAt": until, "verdict": "returned",
				"hits":          []any{map[string]any{"time": until, "kind": "forwarding", "detail": "mailbox forwarding set again, to x@evil.example"}},
				"recontainRuns": []any{"20261207t150000-bbbb"}, "unavailable": []any{map[string]any{"source": "sign-ins", "reason": "no P1"}}}
		}
		writeDoc(w, 200, map[string]any{"runId": "20261207t140000-aaaa", "status": "succeeded", "user": map[string]any{"id": "u", "userPrincipalName": "adele@contoso.example"},
			"createdAt": until.Add(-time.Hour), "finishedAt": until.Add(-time.Hour), "steps": []any{}, "approval": map[string]any{"required": false}, "watch": watch})
	}))
	t.Cleanup(srv.Close)
	res := cmdline(t, map[string]string{"TOURNIQUET_URL": srv.URL, "TOURNIQUET_KEY": "k"}, "watch", "20261207t140000-aaaa")
	if res.code != exitActionRequired {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{"check 1 at", "check 2 at", "! ", "forwarding: mailbox forwarding set again", "not checked: sign-ins: no P1", "tourniquet status 20261207t150000-bbbb", "returned after 2 checks"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("the output does not say %q:\n%s", want, res.stdout)
		}
	}
}
