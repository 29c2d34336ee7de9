package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/client"
)

// finalStatus lists the run statuses after which nothing more happens (contract 2 and 6.1).
var finalStatus = map[string]bool{
	"succeeded": true, "planned": true, "failed": true, "action_required": true,
	"refused": true, "rejected": true, "expired": true,
}

// waiting lists the statuses of a run that may still move.
var waiting = map[string]bool{"queued": true, "running": true, "awaiting_approval": true}

func final(status string) bool { return finalStatus[status] }

// runFinal reports whether the run will not move again: a status this command line does not
// know counts as final once the run has a finishedAt, so a newer service never leaves it
// polling forever.
func runFinal(r *client.Run) bool {
	return final(r.Status) || (!waiting[r.Status] && r.FinishedAt != nil)
}

// exitFor maps a run's status to the exit code; only success (or a dry run's plan) is 0.
func exitFor(status string) int {
	switch status {
	case "succeeded", "planned":
		return exitOK
	case "action_required":
		return exitActionRequired
	case "awaiting_approval":
		return exitAwaitingApproval
	case "refused", "rejected", "expired":
		return exitNotRun
	case "queued", "running":
		return exitUnfinished
	}
	return exitFailed
}

// stepFinal reports whether a step has its outcome; "pending", "running" and statuses this
// command line does not know (a step waiting out throttling, say) are still moving.
func stepFinal(status string) bool {
	switch status {
	case "succeeded", "no_change", "action_required", "failed", "skipped", "planned":
		return true
	}
	return false
}

// follow reads the run again and again (0.5 s, growing to 2 s while nothing changes) until it
// ends, showing its steps as they finish. remediate stops at awaiting_approval (a person must
// act first); watch and approve wait through it.
func (c *cli) follow(ctx context.Context, doc client.Document[client.Run], throughApproval bool) error {
	v := &view{w: c.stdout, tty: c.tty, off: c.opts.json, width: termWidth(c.stdout), printed: map[string]bool{}}
	id := doc.Value.RunID
	var deadline time.Time
	if c.opts.wait > 0 {
		deadline = time.Now().Add(c.opts.wait)
	}
	interval := c.pollMin
	v.show(&doc.Value)
	for {
		r := &doc.Value
		if runFinal(r) || (r.Status == "awaiting_approval" && !throughApproval) {
			break
		}
		if !deadline.IsZero() && time.Now().Add(interval).After(deadline) {
			v.finish(r)
			if c.opts.json {
				c.printRaw(doc.Raw)
			}
			fmt.Fprintf(c.stderr, "tourniquet: run %s is still %s after %s; it goes on: tourniquet watch %s\n", clean(id), clean(r.Status), c.opts.wait, clean(id))
			return exitError{exitUnfinished}
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			v.finish(r)
			fmt.Fprintf(c.stderr, "tourniquet: stopped following; run %s goes on: tourniquet watch %s\n", clean(id), clean(id))
			return ctx.Err()
		case <-t.C:
		}
		next, err := c.api.Get(ctx, id)
		if err != nil {
			v.finish(r)
			return err
		}
		if string(next.Raw) != string(doc.Raw) {
			interval = c.pollMin
		} else {
			interval = min(interval*3/2, c.pollMax)
		}
		doc = next
		v.show(&doc.Value)
	}
	v.finish(&doc.Value)
	if c.opts.json {
		c.printRaw(doc.Raw)
	} else {
		c.hints(&doc.Value)
	}
	return exitError{exitFor(doc.Value.Status)}
}

// view shows a followed run. On a terminal it keeps a block of lines (the run, then one per
// step) and redraws it in place with ANSI cursor movement; elsewhere (a pipe, a file, a CI
// log) it appends a line when the run's status changes and one when each step finishes, so
// the output reads top to bottom and can be grepped.
type view struct {
	w       io.Writer
	tty     bool
	off     bool // --json: nothing but the document
	width   int  // terminal columns; lines are cut to fit so a wrap never breaks the redraw
	lines   int  // lines of the block on screen (terminal)
	status  string
	printed map[string]bool // steps whose line is out (pipe)
	started bool
}

func (v *view) show(r *client.Run) {
	if v.off {
		return
	}
	if v.tty {
		v.redraw(r)
		return
	}
	if !v.started {
		v.started = true
		v.status = r.Status
		fmt.Fprintln(v.w, runHeader(r))
	} else if r.Status != v.status {
		v.status = r.Status
		if !runFinal(r) {
			fmt.Fprintf(v.w, "run %s: %s\n", clean(r.RunID), clean(r.Status))
		}
	}
	for i := range r.Steps {
		st := &r.Steps[i]
		if stepFinal(st.Status) && !v.printed[st.Name] {
			v.printed[st.Name] = true
			fmt.Fprintln(v.w, stepLine(st))
		}
	}
}

// finish leaves the block as the run ended and prints one closing line.
func (v *view) finish(r *client.Run) {
	if v.off {
		return
	}
	if v.tty {
		v.redraw(r)
	} else {
		// Steps that never got an outcome (a rejected run's, or when the wait ran out).
		for i := range r.Steps {
			if st := &r.Steps[i]; !v.printed[st.Name] {
				v.printed[st.Name] = true
				fmt.Fprintln(v.w, stepLine(st))
			}
		}
	}
	if runFinal(r) || r.Status == "awaiting_approval" {
		fmt.Fprintln(v.w, summary(r))
	}
}

var marks = map[string]string{
	"pending": "·", "running": "»", "succeeded": "✓", "no_change": "=", "action_required": "!",
	"failed": "✗", "skipped": "-", "planned": "~",
}

func (v *view) redraw(r *client.Run) {
	var b strings.Builder
	if v.lines > 0 {
		// Back to the block's first line, and clear from there down.
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", v.lines)
	}
	lines := []string{runHeader(r)}
	for i := range r.Steps {
		st := &r.Steps[i]
		mark := marks[st.Status]
		if mark == "" {
			mark = "?"
		}
		lines = append(lines, mark+stepLine(st)[1:])
	}
	for _, l := range lines {
		b.WriteString(fit(l, v.width))
		b.WriteString("\n")
	}
	v.lines = len(lines)
	io.WriteString(v.w, b.String())
}

// fit cuts a line to the terminal's width (in runes; the text is sanitized, so no escape
// sequence is cut in half).
func fit(s string, width int) string {
	if width <= 1 {
		return s
	}
	rs := []rune(s)
	if len(rs) < width {
		return s
	}
	return string(rs[:width-2]) + "…"
}

// isTerminal reports whether w is a character device (a terminal): the in-place view is only
// drawn there. A stat of the file mode needs no dependency; /dev/null is a character device
// too, where the escapes are harmless.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// followWatch follows a run's eviction watch: a line per check and per hit, until the watch
// ends or --wait runs out. It exits 0 when no return was seen, 3 when the attacker returned
// (a person must look at the re-containing runs).
func (c *cli) followWatch(ctx context.Context, doc client.Document[client.Run]) error {
	id := doc.Value.RunID
	var deadline time.Time
	if c.opts.wait > 0 {
		deadline = time.Now().Add(c.opts.wait)
	}
	checks, hits := -1, 0
	for {
		w := doc.Value.Watch
		if !c.opts.json && w.Checks != checks {
			if checks < 0 {
				fmt.Fprintf(c.stdout, "watch until %s, a check every %s\n", w.Until.UTC().Format(time.RFC3339), clean(w.Interval))
			}
			checks = w.Checks
			if w.LastCheckAt != nil {
				fmt.Fprintf(c.stdout, "check %d at %s: %s\n", w.Checks, w.LastCheckAt.UTC().Format(time.RFC3339), clean(w.Verdict))
			}
			for _, h := range w.Hits[min(hits, len(w.Hits)):] {
				fmt.Fprintf(c.stdout, "  ! %s %s: %s\n", h.Time.UTC().Format(time.RFC3339), clean(h.Kind), clean(h.Detail))
			}
			hits = len(w.Hits)
		}
		if w.Ended() {
			if c.opts.json {
				c.printRaw(doc.Raw)
			} else {
				for _, u := range w.Unavailable {
					fmt.Fprintf(c.stdout, "  not checked: %s: %s\n", clean(u.Source), clean(u.Reason))
				}
				for _, r := range w.RecontainRuns {
					fmt.Fprintf(c.stdout, "  re-containing run: tourniquet status %s\n", clean(r))
				}
				fmt.Fprintf(c.stdout, "watch of run %s: %s after %d checks\n", clean(id), clean(w.Verdict), w.Checks)
			}
			if w.Verdict == "returned" {
				return exitError{exitActionRequired}
			}
			return nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			fmt.Fprintf(c.stderr, "tourniquet: the watch of run %s goes on (%s); tourniquet watch %s\n", clean(id), clean(w.Verdict), clean(id))
			return exitError{exitUnfinished}
		}
		t := time.NewTimer(c.pollMax)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		next, err := c.api.Get(ctx, id)
		if err != nil {
			return err
		}
		if next.Value.Watch != nil {
			doc = next
		}
	}
}
