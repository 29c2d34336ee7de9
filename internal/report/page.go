package report

import (
	_ "embed"
	"strconv"
	"strings"

	"github.com/tourniquet/tourniquet/internal/runs"
)

// The page is written by plain Go code rather than html/template: executing a template calls
// methods by a name known only at run time (reflect.Value.MethodByName), which makes the
// linker keep every exported method of every type in the handler, and with the Graph SDK
// linked that tripled the binary (issue 25). Go code has no such call.
//
// Safety rests on one rule, which put enforces: markup is a constant of this file, and every
// value, whatever its origin, goes in through a %s and is escaped. The page has no script,
// no URL attribute and no style from a value, so the only contexts are element text and
// double-quoted attribute values, where HTML-escaping is the whole of the escaping needed.

// style is the page's own style sheet, inlined (the CSP allows inline style only).
//
//go:embed page.css
var style string

// escaper escapes text and double-quoted attribute values exactly as html/template did
// (htmlReplacementTable), so the page is byte for byte what it was: NUL becomes U+FFFD, and
// " & ' + < > become character references.
var escaper = strings.NewReplacer(
	"\x00", "\uFFFD",
	`"`, "&#34;",
	"&", "&amp;",
	"'", "&#39;",
	"+", "&#43;",
	"<", "&lt;",
	">", "&gt;",
)

// writer accumulates the page.
type writer struct{ strings.Builder }

// put writes markup with each %s replaced by the next of values, escaped. markup is always
// a constant of this file, never text from a run. A count that does not match is a bug of
// this file that every rendering hits, so the tests catch it; it panics.
func (w *writer) put(markup string, values ...string) {
	for _, v := range values {
		before, after, ok := strings.Cut(markup, "%s")
		if !ok {
			panic("report: more values than %s in " + strconv.Quote(markup))
		}
		w.WriteString(before)
		_, _ = escaper.WriteString(w, v)
		markup = after
	}
	if strings.Contains(markup, "%s") {
		panic("report: fewer values than %s in " + strconv.Quote(markup))
	}
	w.WriteString(markup)
}

// putIf writes markup (with values) when cond holds.
func (w *writer) putIf(cond bool, markup string, values ...string) {
	if cond {
		w.put(markup, values...)
	}
}

// joined writes items separated by ", " (each written by item), or markup none when there
// are no items.
func joined[T any](w *writer, items []T, none string, item func(T)) {
	if len(items) == 0 {
		w.put(none)
		return
	}
	for i, it := range items {
		w.putIf(i > 0, ", ")
		item(it)
	}
}

// writePage writes the whole page of v.
func writePage(w *writer, v *view) {
	run := v.Run
	w.put(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>%s</title>
<style>
`, v.Title)
	w.WriteString(style)
	w.put(`</style>
</head>
<body>
<header>
<h1>%s</h1>
<div class="runid">Run <code>%s</code>`, v.Title, run.RunID)
	w.putIf(run.DryRun, ` · dry run`)
	w.put(`</div>
</header>

<p class="outcome %s" id="outcome">%s</p>
`, v.OutcomeClass, v.Outcome)

	writeFacts(w, v)

	w.put("\n<h2>What a person must still do</h2>")
	if len(v.ToDo) > 0 {
		w.put("\n" + `<ul class="todo" id="todo">`)
		for _, td := range v.ToDo {
			w.put("\n<li><code>%s</code>: %s</li>", td.Step, td.What)
		}
		w.put("\n</ul>")
	} else {
		w.put("\n" + `<p id="todo">Nothing: no step needs a person.</p>`)
	}

	w.put("\n\n<h2>Timeline of the steps</h2>")
	if len(v.Steps) > 0 {
		w.put("\n" + `<ol class="timeline">`)
		for _, s := range v.Steps {
			writeStep(w, s)
		}
		w.put("\n</ol>")
	} else {
		w.put("\n" + `<p class="none">The run has no steps.</p>`)
	}

	if v.Findings != nil {
		writeFindings(w, v.Findings)
	}

	if run.Watch != nil {
		writeWatch(w, run.Watch)
	}

	if v.Restore != nil || v.RestoreAll != nil || v.Approve != nil {
		w.put("\n<h2>Commands</h2>")
		for _, c := range []*command{v.Approve, v.Reject, v.Restore, v.RestoreAll} {
			if c != nil {
				w.put("\n<p><code>%s %s</code>: %s</p>\n<pre>%s</pre>", c.Method, c.Path, c.Note, c.Curl)
			}
		}
	}

	if len(v.Restorations) > 0 {
		w.put("\n<h2>Restorations</h2>\n" + `<ol class="timeline">`)
		for _, r := range v.Restorations {
			w.put("\n<li>\n"+`<div class="stephead"><h3>%s</h3><span class="meta">status <code>%s</code>`, formatTime(r.At), r.Status)
			w.putIf(r.RequestedBy != "", ` · asked by %s`, r.RequestedBy)
			w.put(`</span></div>`)
			writeError(w, r.Error)
			for _, c := range r.Changes {
				writeChange(w, c)
			}
			w.putIf(r.Why != "", "\n<p>Waits for approval: %s</p>", r.Why)
			for _, c := range []*command{r.Approve, r.Reject} {
				if c != nil {
					w.put("\n<p><code>%s %s</code>: %s</p>\n<pre>%s</pre>", c.Method, c.Path, c.Note, c.Curl)
				}
			}
			w.put("\n</li>")
		}
		w.put("\n</ol>")
	}

	preflightNote := ""
	if v.Preflight != "" {
		preflightNote = " Preflight of this deployment (GET /api/preflight): " + v.Preflight + "."
	}
	w.put(`

<footer>Tourniquet remediation report. The same record as JSON: <code>GET /api/remediations/%s</code>.%s</footer>
</body>
</html>
`, run.RunID, preflightNote)
}

// writeFacts writes who, why and when.
func writeFacts(w *writer, v *view) {
	run := v.Run
	w.put(`
<h2>Who, why and when</h2>
<table class="facts">
<tr><th>User</th><td>%s`, run.User.UserPrincipalName)
	w.putIf(run.User.Mail != "", ` (%s)`, run.User.Mail)
	w.put(`</td></tr>
<tr><th>Object id</th><td><code>%s</code>`, run.User.ID)
	w.putIf(run.User.OnPremisesSyncEnabled, ` · synced from on-premises Active Directory`)
	w.put("</td></tr>\n<tr><th>Asked by</th><td>")
	orNone(w, run.RequestedBy, "not recorded")
	w.put("</td></tr>\n<tr><th>Why</th><td>")
	orNone(w, run.Reason, "no reason given")
	w.put("</td></tr>")
	w.putIf(run.IdempotencyKey != "", "\n<tr><th>Idempotency key</th><td>%s</td></tr>", run.IdempotencyKey)
	w.put("\n<tr><th>Started</th><td>%s</td></tr>\n<tr><th>Finished</th><td>%s", formatTime(run.CreatedAt), formatTimeOrNotYet(run.FinishedAt))
	w.putIf(v.Duration != "", ` (took %s)`, v.Duration)
	w.put("</td></tr>\n<tr><th>Status</th><td><code>%s</code>", string(run.Status))
	w.putIf(run.Mode != "", ` · %s run`, run.Mode)
	w.put("</td></tr>")
	if a := run.Approval; a.Required {
		w.put("\n" + `<tr><th>Approval</th><td id="approval">`)
		if a.Decision != "" {
			w.put("%s", a.Decision)
			w.putIf(a.DecidedBy != "", ` by %s`, a.DecidedBy)
			if a.DecidedAt != nil {
				w.put(` on %s`, formatTime(*a.DecidedAt))
			}
			w.putIf(a.Reason != "", `: %s`, a.Reason)
		} else {
			w.put(`awaits approval by a second person`)
			if a.ExpiresAt != nil {
				w.put(`, until %s (then it expires and changes nothing)`, formatTime(*a.ExpiresAt))
			}
		}
		w.putIf(a.Why != "", `<br>needed because %s`, a.Why)
		w.put("</td></tr>")
	}
	if e := run.Error; e != nil {
		w.put("\n"+`<tr><th>Error</th><td class="error"><code>%s</code>: %s</td></tr>`, e.Code, e.Message)
	}
	w.put("\n</table>\n")
}

// orNone writes s, or says none in grey when s is empty.
func orNone(w *writer, s, none string) {
	if s != "" {
		w.put("%s", s)
		return
	}
	w.put(`<span class="none">%s</span>`, none)
}

// writeStep writes one step of the timeline.
func writeStep(w *writer, s stepView) {
	w.put("\n"+`<li id="step-%s">
<div class="stephead"><h3><code>%s</code></h3><span class="status %s">%s</span><span class="meta">%s</span></div>
<div class="meta">`, s.Name, s.Name, s.StatusClass, s.StatusWords, s.Title)
	if s.StartedAt != nil {
		w.put(`started %s · `, formatTime(*s.StartedAt))
	}
	if s.FinishedAt != nil {
		w.put(`finished %s · `, formatTime(*s.FinishedAt))
	}
	w.put(`%s attempt`, strconv.Itoa(s.Attempts))
	w.putIf(s.Attempts != 1, `s`)
	w.put(` · status <code>%s</code></div>`, s.Status)
	w.putIf(s.Message != "", "\n"+`<p class="message">%s</p>`, s.Message)
	writeError(w, s.Error)
	for _, c := range s.Changes {
		writeChange(w, c)
	}
	w.put("\n</li>")
}

// writeError writes a step's or a restoration's error, if any.
func writeError(w *writer, e *runs.Error) {
	if e != nil {
		w.put("\n"+`<p class="error"><code>%s</code>: %s</p>`, e.Code, e.Message)
	}
}

// writeChange writes one change with its before, after and reasons.
func writeChange(w *writer, c changeView) {
	w.put("\n"+`<div class="change">
<div><strong>%s</strong>: <span class="target">%s</span></div>`, c.Action, c.Target)
	switch {
	case c.Before != nil && c.After != nil:
		w.put("\n" + `<div class="beforeafter">` + "\n<div><h4>Before</h4>")
		writeValue(w, c.Before)
		w.put("</div>\n<div><h4>After</h4>")
		writeValue(w, c.After)
		w.put("</div>\n</div>")
	case c.Before != nil:
		w.put("\n" + `<div class="beforeafter single">` + "\n<div><h4>Before</h4>")
		writeValue(w, c.Before)
		w.put("</div>\n<div><h4>After</h4>%s.</div>\n</div>", c.Action)
	case c.After != nil:
		w.put("\n" + `<div class="beforeafter single">` + "\n<div><h4>After</h4>")
		writeValue(w, c.After)
		w.put("</div>\n</div>")
	}
	if len(c.Reasons) > 0 {
		w.put("\n" + `<h4 class="why">Why</h4>` + "\n" + `<ul class="reasons">`)
		for _, r := range c.Reasons {
			w.put("\n<li>%s</li>", r)
		}
		w.put("\n</ul>")
	}
	w.put("\n</div>")
}

// writeValue writes a before or after value: (none), key: value fields with the empty keys
// named on one line, a list, or a scalar.
func writeValue(w *writer, v *value) {
	switch {
	case v.Empty:
		w.put(`<span class="none">(none)</span>`)
	case v.IsMap:
		if len(v.Fields) > 0 {
			w.put(`<dl class="kv">`)
			for _, f := range v.Fields {
				w.put("<dt>%s</dt><dd>", f.Key)
				writeValue(w, f.Value)
				w.put("</dd>")
			}
			w.put("</dl>")
		}
		if len(v.EmptyKeys) > 0 {
			w.put(`<div class="empty">empty: `)
			joined(w, v.EmptyKeys, "", func(k string) { w.put("<code>%s</code>", k) })
			w.put("</div>")
		}
	case len(v.List) > 0:
		w.put(`<ul class="list">`)
		for _, item := range v.List {
			w.put("<li>")
			writeValue(w, item)
			w.put("</li>")
		}
		w.put("</ul>")
	default:
		w.put("%s", v.Scalar)
	}
}

// writeFindings writes what the investigate step read.
// writeWatch writes the eviction watch: what it looked at, how often, what it saw, and what
// it could not read. "No return seen" says what was looked at, never that nothing happened.
func writeWatch(w *writer, wt *runs.Watch) {
	verdict := map[string]string{
		runs.WatchWatching:     "still watching",
		runs.WatchNoReturnSeen: "no return seen in what was checked (this is not proof that nothing happened: see what was not checked)",
		runs.WatchReturned:     "the attacker returned: re-contained",
	}[wt.Verdict]
	if verdict == "" {
		verdict = wt.Verdict
	}
	last := "not yet"
	if wt.LastCheckAt != nil {
		last = formatTime(*wt.LastCheckAt)
	}
	w.put(`
<h2 id="watch">After the run: the eviction watch</h2>
<table class="facts" id="watch-facts">
<tr><th>Verdict</th><td><code>%s</code>: %s</td></tr>
<tr><th>Until</th><td>%s (UTC), a check every %s</td></tr>
<tr><th>Checks</th><td>%s, the last %s</td></tr>
</table>`, wt.Verdict, verdict, formatTime(wt.Until), wt.Interval, strconv.Itoa(wt.Checks), last)
	if len(wt.Checked) > 0 {
		w.put("\n" + `<h3>What each check looks at</h3>` + "\n" + `<ul id="watch-checked">`)
		for _, c := range wt.Checked {
			w.put("\n<li>%s</li>", c)
		}
		w.put("\n</ul>")
	}
	if len(wt.Hits) > 0 {
		w.put("\n" + `<h3 class="signals">What came back</h3>` + "\n" + `<ul class="signals" id="watch-hits">`)
		for _, h := range wt.Hits {
			w.put("\n<li>%s <code>%s</code>: %s</li>", formatTime(h.Time), h.Kind, h.Detail)
		}
		w.put("\n</ul>")
	}
	if len(wt.RecontainRuns) > 0 {
		w.put("\n" + `<p id="watch-recontain">Re-containing runs: `)
		joined(w, wt.RecontainRuns, "", func(id string) { w.put("<code>%s</code>", id) })
		w.put("</p>")
	}
	if len(wt.Unavailable) > 0 {
		w.put("\n" + `<h3 class="signals">Not checked</h3>` + "\n" + `<ul class="todo" id="watch-unavailable">`)
		for _, u := range wt.Unavailable {
			w.put("\n<li><code>%s</code>: %s</li>", u.Source, u.Reason)
		}
		w.put("\n</ul>")
	}
	if len(wt.Notes) > 0 {
		w.put("\n" + `<h3>Read less than it could</h3>` + "\n" + `<ul id="watch-notes">`)
		for _, n := range wt.Notes {
			w.put("\n<li>%s</li>", n)
		}
		w.put("\n</ul>")
	}
}

func writeFindings(w *writer, f *runs.Findings) {
	w.put(`
<h2 id="findings">What happened: the investigation</h2>
<p class="meta">From %s to %s (UTC). Sign-ins and directory audit records from Microsoft Entra ID, mailbox changes from the unified audit log, sent mail from the message trace.</p>
<table class="facts" id="findings-summary">
<tr><th>Sign-ins</th><td>%s (%s failed)</td></tr>
<tr><th>Countries</th><td>`, f.From, f.To, strconv.Itoa(f.Summary.SignIns), strconv.Itoa(f.Summary.FailedSignIns))
	item := func(s string) { w.put("%s", s) }
	const none = `<span class="none">none</span>`
	joined(w, f.Summary.Countries, none, item)
	w.put("</td></tr>\n<tr><th>IP addresses</th><td>")
	joined(w, f.Summary.IPs, none, item)
	w.put("</td></tr>\n<tr><th>Mail sent</th><td>%s messages, %s external recipients</td></tr>\n<tr><th>External domains</th><td>",
		strconv.Itoa(f.Summary.MailSent), strconv.Itoa(f.Summary.ExternalRecipients))
	joined(w, f.Summary.ExternalDomains, none, item)
	if len(f.Indicators.IPs) > 0 {
		w.put("</td></tr>\n" + `<tr id="findings-indicators"><th>The attacker's addresses</th><td>`)
		joined(w, f.Indicators.IPs, none, item)
	}
	if len(f.Indicators.SessionIDs) > 0 {
		w.put("</td></tr>\n" + `<tr id="findings-sessions"><th>The attacker's sessions</th><td>`)
		joined(w, f.Indicators.SessionIDs, none, item)
	}
	w.put("</td></tr>\n</table>")
	if len(f.Signals) > 0 {
		w.put("\n" + `<h3 class="signals">What stands out</h3>` + "\n" + `<ul class="signals" id="findings-signals">`)
		for _, s := range f.Signals {
			w.put("\n<li>%s</li>", s)
		}
		w.put("\n</ul>")
	} else {
		w.put("\n" + `<p id="findings-signals">No rule flagged anything.</p>`)
	}
	if len(f.Unavailable) > 0 {
		w.put("\n" + `<h3 class="signals">Not read</h3>` + "\n" + `<ul class="todo" id="findings-unavailable">`)
		for _, u := range f.Unavailable {
			w.put("\n<li><code>%s</code>: %s</li>", u.Source, u.Reason)
		}
		w.put("\n</ul>")
	}
	if len(f.Related) > 0 {
		w.put("\n" + `<h3 class="signals">Other accounts the same traces point at</h3>` + "\n" +
			`<p class="meta">Read only: nothing was changed for them. Look at each with the command shown.</p>` + "\n" + `<ul class="todo" id="findings-related">`)
		for _, r := range f.Related {
			w.put("\n<li><strong>%s</strong>", r.User)
			for _, why := range r.Why {
				w.put(`<div class="why">%s</div>`, why)
			}
			w.put(`<div><code>tourniquet remediate %s --dry-run</code></div></li>`, r.User)
		}
		w.put("\n</ul>")
	}
	if len(f.MailItemsAccessed) > 0 {
		w.put("\n" + `<h3 class="signals">Mail read (MailItemsAccessed), per session</h3>` + "\n" + `<table class="events" id="findings-mail-read">
<thead><tr><th>Session</th><th>From (UTC)</th><th>Until</th><th>IP</th><th>Messages opened</th><th>Folders synced</th><th>Folders</th></tr></thead>
<tbody>`)
		for _, a := range f.MailItemsAccessed {
			w.put("\n<tr")
			w.putIf(a.Attacker, ` class="flagged"`)
			w.put("><td>%s</td><td>%s</td><td>%s</td><td>", a.SessionID, a.First, a.Last)
			joined(w, a.IPs, none, item)
			w.put("</td><td>%s</td><td>%s</td><td>", strconv.Itoa(a.Items), strconv.Itoa(a.Syncs))
			joined(w, a.Folders, none, item)
			w.put("</td></tr>")
		}
		w.put("\n</tbody>\n</table>")
	}
	if len(f.Truncated) > 0 {
		w.put("\n" + `<p class="meta" id="findings-truncated">Cut at a service limit (more happened than these sources answered): `)
		joined(w, f.Truncated, none, item)
		w.put("</p>")
	}
	for _, n := range f.Notes {
		w.put("\n"+`<p class="meta">%s</p>`, n)
	}
	w.put("\n" + `<table class="events" id="findings-timeline">
<thead><tr><th>Time (UTC)</th><th>Source</th><th>What</th><th>IP</th><th>Location</th><th>Detail</th></tr></thead>
<tbody>`)
	for _, e := range f.Timeline {
		w.put("\n<tr")
		w.putIf(len(e.Signals) > 0, ` class="flagged"`)
		w.put("><td>%s</td><td>%s</td><td>%s", e.Time, e.Source, e.What)
		for _, s := range e.Signals {
			w.put(`<div class="why">%s</div>`, s)
		}
		w.put("</td><td>%s</td><td>%s</td><td>%s", e.IP, e.Location, e.Detail)
		if e.SessionID != "" {
			w.put(`<div class="meta">session %s</div>`, e.SessionID)
		}
		w.put("</td></tr>")
	}
	if len(f.Timeline) == 0 {
		w.put("\n" + `<tr><td colspan="6" class="none">No event in the window.</td></tr>`)
	}
	w.put("\n</tbody>\n</table>")
}
