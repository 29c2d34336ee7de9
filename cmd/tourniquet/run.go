package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/client"
)

// Exit codes: scripts branch on these, so each outcome has its own and they never change
// meaning. The run's status decides them for the commands that show a run.
const (
	exitOK               = 0   // the run succeeded (a dry run: planned), or the command did what it was asked
	exitFailed           = 1   // the run failed, or a restore left an item failed
	exitUsage            = 2   // bad command, argument or flag
	exitActionRequired   = 3   // the run ended action_required: a person must still act
	exitAwaitingApproval = 4   // the run waits for a second person's approval
	exitNotRun           = 5   // the run was refused, rejected or expired: nothing changed
	exitAPI              = 6   // the API answered an error, or could not be reached
	exitUnfinished       = 7   // the run was still queued or running when the command stopped waiting
	exitInterrupted      = 130 // interrupted (Ctrl-C); an async run goes on
)

const usage = `tourniquet: contain a compromised Microsoft 365 account through Tourniquet's HTTP API

Usage: tourniquet <command> [arguments] [flags]

Commands:
  remediate <user>   start a run for a UPN or object id and follow it step by step
      --steps a,b          steps to run (default: the service's default six; see 'steps')
      --dry-run            read and plan only; nothing in the tenant changes
      --reason TEXT        why (recorded in the run, e.g. the incident number)
      --options JSON       step options, e.g. '{"inboxRules":{"action":"delete"}}'
      --sync               let the service run the steps in the request (one answer, no live view)
      --idempotency-key K  a retry with the same key returns the first run (default: a fresh
                           key per command, so the command's own retries never start a second run)
      --no-wait            print the run as accepted and return
  status <runId>     show a run
  watch <runId>      follow a run until it ends (waits through awaiting_approval), then its
                     eviction watch until its verdict (exit 0 no_return_seen, 3 returned)
  restore <runId>    give back the user's own access the run removed (roles, sign-in,
                     mail protocols, role groups; delegates and consents only with --steps)
      --steps a,b          exactly these steps' changes
      --force --reason T   restore before the account was secured (the reason is recorded)
  approve <runId>    approve a run that waits for approval, then follow it
      --reason TEXT        recorded with the decision
      --no-wait            return once the decision is recorded
  reject <runId> --reason TEXT   reject a run that waits for approval
  runs <user>        a user's runs, newest first
  steps              the step catalog: name, impact, default, reversible, what it does
  doctor             what will work in this tenant, and how to fix what will not (the
                     preflight: read-only); exit 0 ready, 3 degraded, 1 blocked
  report <runId>     save the run's report page (HTML)
      -o FILE              where (default report-<runId>.html; '-' writes to stdout)
  help               this text

Flags of every command (before or after the command):
  --url URL          the API address, e.g. https://<app>.azurewebsites.net (env TOURNIQUET_URL)
  --key KEY          a function key, sent as x-functions-key (env TOURNIQUET_KEY; prefer the
                     variable: a flag is visible to other users of the machine in ps)
  --json             print the API's JSON document(s) as sent, nothing else
  --timeout D        time allowed for one request (default 30s; 4m for --sync)
  --wait D           how long remediate, watch and approve follow a run (default 30m; 0: no limit)

Live view: on a terminal each step has a line that updates in place; when the output is a
pipe or a file, one line is printed as each step finishes. Requests refused with 429 or 503
are sent again after the Retry-After the service names (at most 3 times, 60s each).

Exit codes (every command; for remediate, status, watch and approve from the run's status):
  0    succeeded (a dry run: planned), or the command did what was asked
  1    failed (the run, or an item of a restore)
  2    usage error
  3    action_required: a person must still act (see the step messages)
  4    awaiting_approval: a second person must approve (tourniquet approve <runId>)
  5    refused, rejected or expired: the run changed nothing
  6    the API answered an error (shown as title, detail and code) or could not be reached
  7    still queued or running when the command stopped waiting (tourniquet watch <runId>)
  130  interrupted; an async run goes on
`

// common holds the flags every command accepts.
type common struct {
	url, key string
	json     bool
	timeout  time.Duration
	wait     time.Duration
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", c.url, "API address")
	fs.StringVar(&c.key, "key", c.key, "function key")
	fs.BoolVar(&c.json, "json", c.json, "print JSON documents only")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "time allowed for one request")
	fs.DurationVar(&c.wait, "wait", c.wait, "how long to follow a run")
}

// cli is one invocation: its streams, flags and client.
type cli struct {
	stdout, stderr io.Writer
	opts           common
	api            *client.Client
	tty            bool
	// poll bounds the interval between two reads of a followed run; tests shorten it.
	pollMin, pollMax time.Duration
}

// usageError is a mistake in the command line: exit 2, with the usage hint.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError ends the command with a code after its output is printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// run is the whole command line: main only calls it. It returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, tty: isTerminal(stdout) && getenv("TERM") != "dumb",
		pollMin: 500 * time.Millisecond, pollMax: 2 * time.Second}
	c.opts = common{url: getenv("TOURNIQUET_URL"), key: getenv("TOURNIQUET_KEY"), wait: 30 * time.Minute}
	err := c.dispatch(ctx, args[1:])
	return c.exitCode(ctx, err)
}

func (c *cli) exitCode(ctx context.Context, err error) int {
	var (
		usageErr usageError
		exitErr  exitError
		problem  *client.Problem
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &exitErr):
		return exitErr.code
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &usageErr):
		fmt.Fprintf(c.stderr, "tourniquet: %s\nRun 'tourniquet help' for the commands and flags.\n", clean(usageErr.msg))
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintln(c.stderr, "tourniquet: interrupted")
		return exitInterrupted
	case errors.As(err, &problem):
		if c.opts.json && len(problem.Body) > 0 && strings.Contains(string(problem.Body), "{") {
			c.printRaw(problem.Body)
		}
		c.showProblem(problem)
		if problem.Status == http.StatusForbidden && problem.RunID != "" {
			// A protected account: the service recorded the run as refused.
			return exitNotRun
		}
		return exitAPI
	default:
		fmt.Fprintln(c.stderr, "tourniquet:", clean(err.Error()))
		return exitAPI
	}
}

// showProblem prints an RFC 9457 answer the way a person reads it, with what to do where the
// code says.
func (c *cli) showProblem(p *client.Problem) {
	title := p.Title
	if title == "" {
		title = fmt.Sprintf("HTTP %d", p.Status)
	}
	fmt.Fprintf(c.stderr, "tourniquet: %s (HTTP %d", clean(title), p.Status)
	if p.Code != "" {
		fmt.Fprintf(c.stderr, ", %s", clean(p.Code))
	}
	fmt.Fprintf(c.stderr, ") from %s %s\n", clean(p.Method), clean(p.Path))
	if p.Detail != "" {
		fmt.Fprintf(c.stderr, "  %s\n", clean(p.Detail))
	}
	if p.RunID != "" {
		fmt.Fprintf(c.stderr, "  run %s\n", clean(p.RunID))
	}
	switch {
	case p.Code == "account_not_secured":
		fmt.Fprintln(c.stderr, "  to restore all the same: add --force --reason \"why\" (recorded in the run)")
	case p.Status == 401:
		fmt.Fprintln(c.stderr, "  check the function key (--key or TOURNIQUET_KEY)")
	case p.Status == 429 && p.RetryAfter > 0:
		fmt.Fprintf(c.stderr, "  the service asks to wait %s before trying again\n", p.RetryAfter)
	}
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	top := flag.NewFlagSet("tourniquet", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	c.opts.register(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stdout, usage)
			return nil
		}
		return usageError{err.Error()}
	}
	if top.NArg() == 0 {
		fmt.Fprint(c.stderr, usage)
		return usagef("no command")
	}
	name, rest := top.Arg(0), top.Args()[1:]
	switch name {
	case "help", "-h", "--help":
		fmt.Fprint(c.stdout, usage)
		return nil
	case "remediate":
		return c.remediate(ctx, rest)
	case "status":
		return c.status(ctx, rest)
	case "watch":
		return c.watch(ctx, rest)
	case "restore":
		return c.restore(ctx, rest)
	case "approve":
		return c.approve(ctx, rest)
	case "reject":
		return c.reject(ctx, rest)
	case "runs":
		return c.runs(ctx, rest)
	case "steps":
		return c.steps(ctx, rest)
	case "report":
		return c.report(ctx, rest)
	case "doctor":
		return c.doctor(ctx, rest)
	}
	return usagef("unknown command %q", name)
}

// parse reads a command's flags wherever they stand among its arguments (Go's flag package
// stops at the first argument; `remediate adele@contoso.com --dry-run` is what people type),
// checks the number of arguments, and makes the client.
func (c *cli) parse(fs *flag.FlagSet, args []string, want int, what string) ([]string, error) {
	fs.SetOutput(io.Discard)
	c.opts.register(fs)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(c.stdout, usage)
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if len(positional) != want {
		return nil, usagef("%s wants %s", fs.Name(), what)
	}
	for _, p := range positional {
		if strings.HasPrefix(p, "-") {
			return nil, usagef("%s: %q is not a %s", fs.Name(), p, what)
		}
	}
	api, err := client.New(c.opts.url, c.opts.key, c.opts.timeout)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	c.api = api
	return positional, nil
}

func runIDArg(cmd, id string) error {
	if !client.ValidRunID(id) {
		return usagef("%s: %q is not a run id (letters, digits, '.', '_', '-')", cmd, id)
	}
	return nil
}

// stepList splits --steps a,b,c; the service checks the names against its catalog.
func stepList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (c *cli) remediate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("remediate", flag.ContinueOnError)
	var (
		steps, reason, key, options string
		dryRun, sync, noWait        bool
	)
	fs.StringVar(&steps, "steps", "", "")
	fs.BoolVar(&dryRun, "dry-run", false, "")
	fs.StringVar(&reason, "reason", "", "")
	fs.StringVar(&options, "options", "", "")
	fs.BoolVar(&sync, "sync", false, "")
	fs.StringVar(&key, "idempotency-key", "", "")
	fs.BoolVar(&noWait, "no-wait", false, "")
	pos, err := c.parse(fs, args, 1, "one user (UPN or object id)")
	if err != nil {
		return err
	}
	req := client.StartRequest{User: pos[0], Steps: stepList(steps), DryRun: dryRun, Reason: reason, IdempotencyKey: key}
	if steps != "" && len(req.Steps) == 0 {
		return usagef("remediate: --steps names no step")
	}
	if options != "" {
		if !json.Valid([]byte(options)) || !strings.HasPrefix(strings.TrimSpace(options), "{") {
			return usagef("remediate: --options must be a JSON object")
		}
		req.Options = json.RawMessage(options)
	}
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = freshKey()
	}
	if sync {
		req.Mode = "sync"
		if c.opts.timeout == 0 {
			// The Functions front end answers 230 s at most; allow a little more.
			if c.api, err = client.New(c.opts.url, c.opts.key, 4*time.Minute); err != nil {
				return usageError{err.Error()}
			}
		}
	}
	doc, err := c.api.Start(ctx, req)
	if err != nil {
		return err
	}
	run := doc.Value
	if sync || noWait || final(run.Status) || run.Status == "awaiting_approval" {
		if c.opts.json {
			c.printRaw(doc.Raw)
		} else {
			printRun(c.stdout, &run)
			c.hints(&run)
		}
		if noWait && !final(run.Status) && run.Status != "awaiting_approval" {
			return nil
		}
		return exitError{exitFor(run.Status)}
	}
	return c.follow(ctx, doc, false)
}

// freshKey makes an idempotency key per command, so a retry after a lost answer returns the
// run the first attempt started instead of starting a second one.
func freshKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

func (c *cli) status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	pos, err := c.parse(fs, args, 1, "one run id")
	if err != nil {
		return err
	}
	if err := runIDArg("status", pos[0]); err != nil {
		return err
	}
	doc, err := c.api.Get(ctx, pos[0])
	if err != nil {
		return err
	}
	if c.opts.json {
		c.printRaw(doc.Raw)
	} else {
		printRun(c.stdout, &doc.Value)
		c.hints(&doc.Value)
	}
	return exitError{exitFor(doc.Value.Status)}
}

func (c *cli) watch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	pos, err := c.parse(fs, args, 1, "one run id")
	if err != nil {
		return err
	}
	if err := runIDArg("watch", pos[0]); err != nil {
		return err
	}
	doc, err := c.api.Get(ctx, pos[0])
	if err != nil {
		return err
	}
	err = c.follow(ctx, doc, true)
	var done exitError
	if !errors.As(err, &done) || done.code == exitUnfinished {
		return err
	}
	// The run has ended; its eviction watch may go on (contract 1.3).
	last, gerr := c.api.Get(ctx, pos[0])
	if gerr != nil || last.Value.Watch == nil {
		return err
	}
	return c.followWatch(ctx, last)
}

func (c *cli) restore(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	var (
		steps, reason string
		force         bool
	)
	fs.StringVar(&steps, "steps", "", "")
	fs.BoolVar(&force, "force", false, "")
	fs.StringVar(&reason, "reason", "", "")
	pos, err := c.parse(fs, args, 1, "one run id")
	if err != nil {
		return err
	}
	if err := runIDArg("restore", pos[0]); err != nil {
		return err
	}
	if force && strings.TrimSpace(reason) == "" {
		return usagef("restore: --force needs --reason (it is recorded in the run)")
	}
	doc, err := c.api.Restore(ctx, pos[0], client.RestoreRequest{Steps: stepList(steps), Force: force, Reason: reason})
	if err != nil {
		return err
	}
	failed := 0
	for _, it := range doc.Value.Items {
		if it.Result == "failed" {
			failed++
		}
	}
	if c.opts.json {
		c.printRaw(doc.Raw)
	} else {
		printRestored(c.stdout, &doc.Value)
	}
	if failed > 0 {
		return exitError{exitFailed}
	}
	return nil
}

func (c *cli) approve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("approve", flag.ContinueOnError)
	var (
		reason string
		noWait bool
	)
	fs.StringVar(&reason, "reason", "", "")
	fs.BoolVar(&noWait, "no-wait", false, "")
	pos, err := c.parse(fs, args, 1, "one run id")
	if err != nil {
		return err
	}
	if err := runIDArg("approve", pos[0]); err != nil {
		return err
	}
	doc, err := c.api.Approve(ctx, pos[0], reason)
	if err != nil {
		return err
	}
	if doc.Value.RunID == "" {
		// An answer without the run document: read it.
		if doc, err = c.api.Get(ctx, pos[0]); err != nil {
			return err
		}
	}
	if noWait {
		if c.opts.json {
			c.printRaw(doc.Raw)
		} else {
			fmt.Fprintf(c.stdout, "approved run %s; it goes on: tourniquet watch %s\n", pos[0], pos[0])
		}
		return nil
	}
	if !c.opts.json {
		fmt.Fprintf(c.stdout, "approved run %s\n", pos[0])
	}
	return c.follow(ctx, doc, true)
}

func (c *cli) reject(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reject", flag.ContinueOnError)
	var reason string
	fs.StringVar(&reason, "reason", "", "")
	pos, err := c.parse(fs, args, 1, "one run id")
	if err != nil {
		return err
	}
	if err := runIDArg("reject", pos[0]); err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		return usagef("reject: --reason is required (it is recorded with the decision)")
	}
	doc, err := c.api.Reject(ctx, pos[0], reason)
	if err != nil {
		return err
	}
	if c.opts.json {
		c.printRaw(doc.Raw)
		return nil
	}
	if doc.Value.RunID == "" {
		fmt.Fprintf(c.stdout, "rejected run %s\n", pos[0])
		return nil
	}
	fmt.Fprintf(c.stdout, "rejected run %s: status %s\n", pos[0], clean(doc.Value.Status))
	return nil
}

func (c *cli) runs(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("runs", flag.ContinueOnError)
	pos, err := c.parse(fs, args, 1, "one user (UPN or object id)")
	if err != nil {
		return err
	}
	doc, err := c.api.List(ctx, pos[0])
	if err != nil {
		return err
	}
	if c.opts.json {
		c.printRaw(doc.Raw)
		return nil
	}
	printRuns(c.stdout, doc.Value)
	return nil
}

func (c *cli) steps(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("steps", flag.ContinueOnError)
	if _, err := c.parse(fs, args, 0, "no argument"); err != nil {
		return err
	}
	doc, err := c.api.Steps(ctx)
	if err != nil {
		return err
	}
	if c.opts.json {
		c.printRaw(doc.Raw)
		return nil
	}
	printCatalog(c.stdout, doc.Value)
	return nil
}

func (c *cli) report(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var out string
	fs.StringVar(&out, "o", "", "")
	pos, err := c.parse(fs, args, 1, "one run id")
	if err != nil {
		return err
	}
	if err := runIDArg("report", pos[0]); err != nil {
		return err
	}
	page, err := c.api.Report(ctx, pos[0])
	if err != nil {
		return err
	}
	if out == "-" {
		// The page is HTML for a browser; on a terminal its tenant text must not drive it.
		_, err := io.WriteString(c.stdout, cleanText(string(page)))
		return err
	}
	if out == "" {
		out = "report-" + pos[0] + ".html"
	}
	// The page names the user, who asked and what changed: readable by its owner only.
	if err := os.WriteFile(out, page, 0o600); err != nil {
		return err
	}
	abs, _ := filepath.Abs(out)
	if c.opts.json {
		data, _ := json.Marshal(map[string]any{"runId": pos[0], "path": abs, "bytes": len(page)})
		c.printRaw(data)
		return nil
	}
	fmt.Fprintln(c.stdout, abs)
	return nil
}

// doctor prints the preflight: a table of the steps, then the checks that need a person,
// each with its fix. The exit code says the worst of the default steps.
func (c *cli) doctor(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	if _, err := c.parse(fs, args, 0, "no argument"); err != nil {
		return err
	}
	doc, err := c.api.Preflight(ctx)
	if err != nil {
		return err
	}
	if c.opts.json {
		c.printRaw(doc.Raw)
	} else {
		printPreflight(c.stdout, &doc.Value, c.tty)
	}
	switch doc.Value.Status {
	case "ready":
		return nil
	case "degraded":
		return exitError{exitActionRequired}
	}
	return exitError{exitFailed}
}

// printRaw prints a document as the API sent it, one per line.
func (c *cli) printRaw(data []byte) {
	fmt.Fprintf(c.stdout, "%s\n", cleanJSON(strings.TrimSpace(string(data))))
}
