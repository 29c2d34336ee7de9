package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// findChromium returns the headless browser the report test loads the page in. The project's
// setup (`make deps`, scripts/ensure-chromium.sh) installs Debian's chromium where it can.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium found (install it with scripts/ensure-chromium.sh, or set CHROMIUM): the report page is not checked in a browser")
	return ""
}

// chromium runs the browser headless on url with args and returns what it printed and how
// long it took. Everything that would reach out (updates, sync, QUIC, first-run pages) is off,
// so any request the log shows comes from the page.
func chromium(t *testing.T, bin, profile, url string, args ...string) (stdout, stderr string, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0", "--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), url)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errOut.String())
	}
	return out.String(), errOut.String(), time.Since(start)
}

// TestReportPageInARealBrowser makes a real run of the demo tenant (through the handler under
// the host emulator, with Azurite) with an inbox rule named like a script, checks the page's
// headers and errors over HTTP, and loads the page in headless Chromium: the text a person reads is there, the rule name is shown
// as text, no script element exists, nothing outside the page is requested, and it prints
// to an A4 PDF.
func TestReportPageInARealBrowser(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	const ruleName = "<script>alert(1)</script>"
	const evil = `"><img src=x onerror=alert(2)>`
	s.sim.AddInboxRule(s.demo.UPN, tenantsim.InboxRule{Name: ruleName, Enabled: true, Description: evil,
		ForwardTo: []string{"exfil@attacker.example"}, DeleteMessage: true, SubjectContainsWords: []string{"invoice"}})

	// The attacker's rule as the unified audit log recorded it: its name reaches the
	// investigation's timeline, escaped like everything else from the tenant.
	s.sim.AddAuditRecord(tenantsim.AuditRecord{UserID: s.demo.UPN, Time: time.Now().UTC().Add(-2 * time.Hour), Operation: "New-InboxRule",
		ClientIP: tenantsim.AttackerIP + ":50999", Parameters: [][2]string{{"Name", ruleName}, {"ForwardTo", "exfil@attacker.example"}}})

	r := call(t, s.host, "POST", "/api/remediations", map[string]any{"user": s.demo.UPN, "mode": "sync", "reason": "INC-4711 impossible travel <b>bold</b>",
		"steps": []string{"reset-password", "revoke-sessions", "remove-forwarding", "remove-inbox-rules", "remove-admin-roles", "investigate", "unblock-sender"}})
	var run runs.Run
	r.json(t, &run)
	if r.status != 200 || run.RunID == "" {
		t.Fatalf("sync run: %d %s", r.status, r.body)
	}

	// The investigation, as the API answers it through the real handler: the attacker's
	// address tied to the rule it created, and containment not held up by it.
	inv := run.Step("investigate")
	if inv == nil || inv.Status != runs.StepSucceeded || inv.Findings == nil || len(inv.Findings.Unavailable) != 0 {
		t.Fatalf("investigate through the handler: %+v", inv)
	}
	tied := false
	for _, e := range inv.Findings.Timeline {
		tied = tied || e.Source == "mailbox" && e.What == `inbox rule created: "Sync"` && e.IP == tenantsim.AttackerIP && len(e.Signals) > 0
	}
	if !tied {
		t.Errorf("the rule creation is not tied to the attacker's IP: %+v", inv.Findings.Timeline)
	}
	if ub := run.Step("unblock-sender"); ub == nil || ub.Status != runs.StepSucceeded {
		t.Errorf("unblock-sender %+v", ub)
	}

	page := call(t, s.host, "GET", "/api/remediations/"+run.RunID+"/report", nil)
	if page.status != 200 {
		t.Fatalf("report: %d %s", page.status, page.body)
	}
	for header, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := page.header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	body := string(page.body)
	// Tenant text is escaped (&lt;img src=...), so only the page's own tags start with "<".
	for _, tag := range regexp.MustCompile(`<[a-zA-Z][^>]*>`).FindAllString(body, -1) {
		if m := regexp.MustCompile(`(?i)^<(script|img|link|iframe|object|embed|base|form)\b|\s(src|href|srcset|action|formaction|poster)\s*=`).FindString(tag); m != "" {
			t.Errorf("the page refers to something or carries a script: %s", tag)
		}
	}
	if m := regexp.MustCompile(`url\(|@import|@font-face`).FindString(styleBlock.FindString(body)); m != "" {
		t.Errorf("the style sheet loads something: %q", m)
	}
	if regexp.MustCompile(`(?i)https?://`).MatchString(strings.Split(body, "<pre>")[0]) {
		t.Errorf("an address outside the commands section") // curl examples are text in <pre>, nothing loads them
	}
	t.Logf("report page of the demo run: %d bytes", len(page.body))

	// An unknown or invalid run id answers what GET /api/remediations/{runId} answers.
	for _, id := range []string{"20260101t000000-0000000000000000", "not'a-run", "x%20or%201"} {
		doc := call(t, s.host, "GET", "/api/remediations/"+id, nil)
		r := call(t, s.host, "GET", "/api/remediations/"+id+"/report", nil)
		if r.status != doc.status || r.status/100 != 4 || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("report of run %q: HTTP %d %s %s, want %d problem+json like the run document", id, r.status, r.header.Get("Content-Type"), r.body, doc.status)
		}
	}

	// The HTTP checks above hold without a browser; the rest needs one.
	bin := findChromium(t)
	dir := t.TempDir()
	url := s.host.URL() + "/api/remediations/" + run.RunID + "/report"
	dom, logs, took := chromium(t, bin, filepath.Join(dir, "profile"), url, "--dump-dom")
	t.Logf("chromium --dump-dom took %v", took)

	text := visibleText(dom)
	for _, want := range []string{
		s.demo.UPN, "INC-4711 impossible travel <b>bold</b>", ruleName, evil,
		"reset-password", "revoke-sessions", "remove-forwarding", "remove-inbox-rules", "remove-admin-roles", "unblock-sender",
		"What a person must still do", "Before", "After", "exfil@attacker.example", "/restore-admin-roles",
		// The investigation: the attack story of the demo tenant, with the attacker's address
		// tied to the rule it created.
		"investigate", "What happened: the investigation", "What stands out", `inbox rule created: "Sync"`,
		`inbox rule created: "` + ruleName + `"`, tenantsim.AttackerIP, tenantsim.AttackerIPv6, "Lagos, Lagos, NG",
		"the address of a new sign-in", "User registered security info", "Consent to application", "burst of external mail",
		"mailbox forwarding set to exfil@evil.example",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered page does not show %q", want)
		}
	}
	for _, el := range []string{"<script", "<img", "<b>"} {
		if strings.Contains(strings.ToLower(dom), el) {
			t.Errorf("the browser's DOM has an element %s: tenant text became markup", el)
		}
	}
	// Chromium logs every Content-Security-Policy violation (a script it refused to run, a
	// resource it refused to load) to the console, which --enable-logging copies to stderr.
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused to") || strings.Contains(line, "CONSOLE") {
			t.Errorf("the page tried something the policy refused: %s", line)
		}
	}

	// The control: the same policy on a page that does carry a script and an image. The
	// browser must refuse both and say so in the log the check above reads; otherwise that
	// check proves nothing.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", page.header.Get("Content-Security-Policy"))
		_, _ = io.WriteString(w, `<!DOCTYPE html><p id="x">script did not run</p><script>document.getElementById("x").textContent = "script ran"</script><img src="http://192.0.2.1/x.png">`)
	}))
	defer control.Close()
	controlDOM, controlLogs, _ := chromium(t, bin, filepath.Join(dir, "profile"), control.URL, "--dump-dom")
	if !strings.Contains(controlDOM, "script did not run") || !strings.Contains(controlLogs, "Content Security Policy") {
		t.Errorf("the control page's script was not refused, or the refusal is not logged: the browser check is blind\nDOM %s\nlog %s", controlDOM, controlLogs)
	}

	pdf := filepath.Join(dir, "report.pdf")
	_, _, tookPDF := chromium(t, bin, filepath.Join(dir, "profile"), url, "--print-to-pdf="+pdf, "--no-pdf-header-footer")
	data, err := os.ReadFile(pdf)
	if err != nil || !bytes.HasPrefix(data, []byte("%PDF-")) {
		t.Fatalf("no PDF printed (%v)", err)
	}
	// A4 is 210 x 297 mm, 595 x 842 points (Chromium writes 594.96 x 841.92); US Letter,
	// Chromium's default, would be 612 x 792. The page's @page rule asks for A4.
	if !regexp.MustCompile(`/MediaBox\s*\[\s*0 0 59[45](\.\d+)? 84[12](\.\d+)?\s*\]`).Match(data) {
		t.Errorf("the printed page is not A4: %s", regexp.MustCompile(`/MediaBox\s*\[[^\]]*\]`).Find(data))
	}
	t.Logf("chromium --print-to-pdf took %v, %d bytes", tookPDF, len(data))

	shot := screenshot(t, bin, filepath.Join(dir, "profile"), url, "full-run")
	_ = os.WriteFile(strings.TrimSuffix(shot, filepath.Ext(shot))+".pdf", data, 0o644)
}

// screenshot saves what Chromium shows of url as a PNG for a person to look at: in
// TOURNIQUET_REPORT_SCREENSHOTS, else in tourniquet-report-screenshots under the system's
// temporary directory (kept after the test, unlike t.TempDir). It returns the file's path.
func screenshot(t *testing.T, bin, profile, url, name string) string {
	t.Helper()
	dir := os.Getenv("TOURNIQUET_REPORT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "tourniquet-report-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	chromium(t, bin, profile, url, "--screenshot="+path, "--window-size=1000,3000", "--hide-scrollbars")
	if data, err := os.ReadFile(path); err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
		t.Fatalf("no screenshot of %s written to %s (%v)", name, path, err)
	}
	t.Logf("screenshot of the %s page: %s", name, path)
	return path
}

// The pages a person reads when the run did not simply succeed: a run that needs a person
// (a synced user's password must be reset on-premises) and a failed run (the identity was
// refused reading directory roles), each with an inbox rule whose name is markup. The
// browser shows the outcome in words, what a person must still do, and the name as text.
func TestReportPagesOfActionRequiredAndFailedRunsInARealBrowser(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	const ruleName = `<img src=x onerror=alert(1)>`
	for _, upn := range []string{s.demo.SyncedUPN, s.demo.UPN} {
		s.sim.AddInboxRule(upn, tenantsim.InboxRule{Name: ruleName, Enabled: true, ForwardTo: []string{"exfil@attacker.example"}})
	}
	bin := findChromium(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, user string
		fault      func()
		status     runs.Status
		want       []string
	}{
		{"action-required", s.demo.SyncedUPN, func() {}, runs.ActionRequired,
			[]string{"but a person must still act", "A person must act", "What a person must still do", "on-premises", "Skipped"}},
		// The removal of a role assignment is refused (a read refused would make the lockout
		// guard hold the run for approval instead: it cannot count the Global Administrators).
		{"failed", s.demo.UPN, func() { s.sim.FailNext(50, "DELETE /v1.0/roleManagement/directory/roleAssignments", 403) }, runs.Failed,
			[]string{"failed", "The account may not be secured", "Failed", "403", "What a person must still do"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fault()
			r := call(t, s.host, "POST", "/api/remediations", map[string]any{"user": tc.user, "mode": "sync", "reason": "INC-" + tc.name})
			var run runs.Run
			r.json(t, &run)
			if r.status != 200 || run.Status != tc.status {
				t.Fatalf("run: HTTP %d, status %s, want %s: %s", r.status, run.Status, tc.status, r.body)
			}
			url := s.host.URL() + "/api/remediations/" + run.RunID + "/report"
			dom, logs, _ := chromium(t, bin, filepath.Join(dir, "profile"), url, "--dump-dom")
			text := visibleText(dom)
			for _, want := range append(tc.want, tc.user, ruleName, "remove-inbox-rules") {
				if !strings.Contains(text, want) {
					t.Errorf("the rendered page does not show %q", want)
				}
			}
			if strings.Contains(strings.ToLower(dom), "<img") {
				t.Error("the rule's name became an image element in the browser")
			}
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused to") || strings.Contains(line, "CONSOLE") {
					t.Errorf("the page tried something the policy refused: %s", line)
				}
			}
			screenshot(t, bin, filepath.Join(dir, "profile"), url, tc.name+"-run")
		})
	}
}

var (
	styleBlock = regexp.MustCompile(`(?s)<style>.*?</style>`)
	anyTag     = regexp.MustCompile(`<[^>]*>`)
)

// visibleText is the DOM's text: what a person sees, entities decoded.
func visibleText(dom string) string {
	return html.UnescapeString(anyTag.ReplaceAllString(styleBlock.ReplaceAllString(dom, ""), " "))
}
