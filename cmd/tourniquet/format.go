package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/tourniquet/tourniquet/internal/client"
)

// clean makes a value fit to print on a terminal: inbox rule names, messages and reasons come
// from the tenant (an attacker names the rules), and a control character or an escape
// sequence in one must not move the cursor, retitle the window or hide a line.
//
// Every string the command line prints that came from the API goes through unsafe: clean for a
// line, cleanText for a page (report -o -), cleanJSON for a document printed as sent (--json).
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r == '\n', unsafe(r):
			return '�'
		}
		return r
	}, s)
}

// unsafe reports whether r may drive a terminal or reorder what it shows: C0 controls (ESC
// starts every escape sequence; newline and tab are decided by the caller), DEL, C1 controls
// (U+009B is a one-character CSI on some terminals), the line and paragraph separators, and
// the bidirectional controls (U+202A-U+202E, U+2066-U+2069, the marks).
func unsafe(r rune) bool {
	return (unicode.IsControl(r) && r != '\n' && r != '\t') || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r)
}

// cleanText is clean for text of many lines: newlines and tabs stay.
func cleanText(s string) string {
	return strings.Map(func(r rune) rune {
		if unsafe(r) {
			return '�'
		}
		return r
	}, s)
}

// cleanJSON writes each unsafe character of a JSON document as its \uXXXX escape: inside a
// string that is the same value, so the document still reads as sent; an unsafe character
// outside a string made the document invalid already.
func cleanJSON(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unsafe(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func runHeader(r *client.Run) string {
	s := fmt.Sprintf("run %s for %s: %s", clean(r.RunID), clean(userName(r.User)), clean(r.Status))
	if r.DryRun {
		s += " (dry run)"
	}
	return s
}

func userName(u client.User) string {
	if u.UserPrincipalName != "" {
		return u.UserPrincipalName
	}
	return u.ID
}

// stepLine is a step's line: its catalog name, its status word, then what a person wants to
// know at a glance (time taken, what changed, why it stopped). The first character is a space
// the terminal view replaces with a mark.
func stepLine(st *client.Step) string {
	var parts []string
	if st.StartedAt != nil && st.FinishedAt != nil {
		parts = append(parts, took(st.FinishedAt.Sub(*st.StartedAt)))
	}
	if st.Attempts > 1 {
		parts = append(parts, fmt.Sprintf("attempt %d", st.Attempts))
	}
	switch n := len(st.Changes); {
	case n == 1:
		parts = append(parts, "1 change")
	case n > 1:
		parts = append(parts, fmt.Sprintf("%d changes", n))
	}
	if st.Error != nil {
		parts = append(parts, fmt.Sprintf("error %s: %s", st.Error.Code, st.Error.Message))
	}
	if st.Message != "" {
		parts = append(parts, st.Message)
	}
	return clean(strings.TrimRight(fmt.Sprintf("  %-28s %-16s %s", st.Name, st.Status, strings.Join(parts, "; ")), " "))
}

// summary is the closing line of a followed run.
func summary(r *client.Run) string {
	s := fmt.Sprintf("run %s %s", r.RunID, r.Status)
	if r.FinishedAt != nil && !r.CreatedAt.IsZero() {
		s += " in " + took(r.FinishedAt.Sub(r.CreatedAt))
	}
	if r.Error != nil {
		s += fmt.Sprintf(": %s: %s", r.Error.Code, r.Error.Message)
	}
	return clean(s)
}

// printRun shows a whole run document: who, why, when, each step with what it changed and
// why, and the decision when it waited for approval.
func printRun(w io.Writer, r *client.Run) {
	line := func(format string, args ...any) { fmt.Fprintln(w, clean(fmt.Sprintf(format, args...))) }
	line("%s", runHeader(r))
	if r.User.ID != "" && r.User.UserPrincipalName != "" {
		line("  user         %s (%s)", r.User.UserPrincipalName, r.User.ID)
	}
	if r.Reason != "" {
		line("  reason       %s", r.Reason)
	}
	if r.RequestedBy != "" {
		line("  requested by %s", r.RequestedBy)
	}
	if !r.CreatedAt.IsZero() {
		line("  created      %s", r.CreatedAt.UTC().Format(time.RFC3339))
	}
	if r.FinishedAt != nil {
		line("  finished     %s (took %s)", r.FinishedAt.UTC().Format(time.RFC3339), took(r.FinishedAt.Sub(r.CreatedAt)))
	}
	if a := r.Approval; a != nil && a.Required {
		switch {
		case a.Decision != "":
			at := ""
			if a.DecidedAt != nil {
				at = " at " + a.DecidedAt.UTC().Format(time.RFC3339)
			}
			line("  approval     %s by %s%s %s", a.Decision, a.DecidedBy, at, quoteIf(a.Reason))
		default:
			line("  approval     required, not decided yet")
		}
	}
	if len(r.Steps) > 0 {
		line("  steps")
	}
	for i := range r.Steps {
		st := &r.Steps[i]
		line("  %s", stepLine(st))
		for _, ch := range st.Changes {
			line("        %-22s %s", ch.Action, ch.Target)
			for _, why := range ch.Reasons {
				line("            why: %s", why)
			}
		}
	}
	if r.Error != nil {
		line("  error        %s: %s", r.Error.Code, r.Error.Message)
	}
}

// took shows a duration as a person reads it: 35ms, 1.2s, 2m3s.
func took(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func quoteIf(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("(%q)", s)
}

// hints say what a person can do next with this run, as the command to type.
func (c *cli) hints(r *client.Run) {
	w := c.stdout
	id := clean(r.RunID)
	switch r.Status {
	case "awaiting_approval":
		fmt.Fprintf(w, "waits for a second person: tourniquet approve %s [--reason ...] or tourniquet reject %s --reason ...\n", id, id)
		fmt.Fprintf(w, "follow it: tourniquet watch %s\n", id)
		return
	case "queued", "running":
		fmt.Fprintf(w, "follow it: tourniquet watch %s\n", id)
		return
	case "action_required":
		fmt.Fprintln(w, "a person must still act: see the step messages above")
	}
	reversible := false
	for _, st := range r.Steps {
		for _, ch := range st.Changes {
			reversible = reversible || (len(ch.Restore) > 0 && string(ch.Restore) != "null" && !r.DryRun)
		}
	}
	if reversible {
		fmt.Fprintf(w, "undo the reversible changes: tourniquet restore %s\n", id)
	}
	if runFinal(r) {
		fmt.Fprintf(w, "report page: tourniquet report %s\n", id)
	}
}

func printRestored(w io.Writer, res *client.Restored) {
	counts := map[string]int{}
	for _, it := range res.Items {
		counts[it.Result]++
	}
	fmt.Fprintf(w, "restore of run %s: %d restored, %d already present, %d failed\n",
		clean(res.RunID), counts["restored"], counts["already_present"], counts["failed"])
	for _, it := range res.Items {
		l := fmt.Sprintf("  %-28s %-16s %s", it.Step, it.Result, it.Target)
		if it.Error != nil {
			l += ": " + it.Error.Code + ": " + it.Error.Message
		}
		fmt.Fprintln(w, clean(l))
	}
	if len(res.Items) == 0 {
		fmt.Fprintln(w, "  nothing recorded to undo")
	}
}

func printRuns(w io.Writer, list []client.Run) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no runs")
		return
	}
	fmt.Fprintf(w, "%-34s %-18s %-20s %-5s %s\n", "RUN", "STATUS", "CREATED", "STEPS", "REASON")
	for i := range list {
		r := &list[i]
		status := r.Status
		if r.DryRun {
			status += " (dry)"
		}
		fmt.Fprintln(w, clean(fmt.Sprintf("%-34s %-18s %-20s %-5d %s", r.RunID, status, r.CreatedAt.UTC().Format("2006-01-02 15:04:05"), len(r.Steps), r.Reason)))
	}
}

func printCatalog(w io.Writer, steps []client.CatalogStep) {
	fmt.Fprintf(w, "%-28s %-9s %-8s %-11s %s\n", "STEP", "IMPACT", "DEFAULT", "REVERSIBLE", "WHAT IT DOES")
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "-"
	}
	for _, s := range steps {
		desc := s.Description
		if len(s.DependsOn) > 0 {
			desc += " (after " + strings.Join(s.DependsOn, ", ") + ")"
		}
		fmt.Fprintln(w, clean(fmt.Sprintf("%-28s %-9s %-8s %-11s %s", s.Name, s.Impact, yes(s.Default), yes(s.Reversible), desc)))
	}
}

// printPreflight prints the preflight as a person reads it: the verdict, one line per step,
// then every check that is not ok with what it found and the fix to paste. On a terminal
// the statuses are coloured; piped, the text is the same without colour.
func printPreflight(w io.Writer, p *client.Preflight, colour bool) {
	paint := func(status string) string {
		code := map[string]string{"ready": "32", "ok": "32", "degraded": "33", "warn": "33", "blocked": "31", "fail": "31"}[status]
		if !colour || code == "" {
			return status
		}
		return "\x1b[" + code + "m" + status + "\x1b[0m"
	}
	pad := func(status string, width int) string {
		return paint(status) + strings.Repeat(" ", max(0, width-len(status)))
	}
	fmt.Fprintf(w, "preflight %s (checked %s)\n\n", paint(clean(p.Status)), p.CheckedAt.UTC().Format(time.RFC3339))
	fmt.Fprintln(w, "STEP                          STATUS    WHY")
	for _, st := range p.Steps {
		why := strings.Join(st.Reasons, "; ")
		fmt.Fprintf(w, "%-29s %s %s\n", clean(st.Name), pad(clean(st.Status), 9), clean(why))
	}
	var open []client.PreflightCheck
	for _, ch := range p.Checks {
		if ch.Status != "ok" {
			open = append(open, ch)
		}
	}
	fmt.Fprintf(w, "\n%d checks, %d to look at\n", len(p.Checks), len(open))
	for _, ch := range open {
		fmt.Fprintf(w, "\n%s %s\n  %s\n", pad(clean(ch.Status), 4), clean(ch.Name), clean(ch.Detail))
		if ch.Fix != "" {
			fmt.Fprintf(w, "  fix: %s\n", clean(ch.Fix))
		}
	}
}
