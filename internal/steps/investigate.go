package steps

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/inboxrules"
	"github.com/tourniquet/tourniquet/internal/investigation"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// AuditLogs is what investigate reads from Microsoft Graph.
type AuditLogs interface {
	SignIns(ctx context.Context, userID string, since time.Time) ([]graph.SignIn, error)
	DirectoryAudits(ctx context.Context, userID string, since time.Time) ([]graph.DirectoryAudit, error)
}

// MailLogs is what investigate reads from Exchange Online.
type MailLogs interface {
	UnifiedAuditLog(ctx context.Context, upn string, start, end time.Time, operations []string) ([]exchange.AuditRecord, error)
	MessageTrace(ctx context.Context, sender string, start, end time.Time) ([]exchange.TracedMessage, error)
}

var (
	_ AuditLogs = (*graph.Client)(nil)
	_ MailLogs  = (*exchange.Client)(nil)
)

// DefaultSourceBudget is how long investigate waits for each source (contract 1.1.1: at
// most 20 s per source in a sync run). A source that takes longer is named unavailable.
const DefaultSourceBudget = 20 * time.Second

// Investigation days (options.investigate.days).
const (
	DefaultInvestigateDays = 7
	MaxInvestigateDays     = 30
)

// InvestigateOptions choose how far back investigate looks.
type InvestigateOptions struct {
	Days int `json:"days,omitempty"` // default 7, at most 30
}

// investigate reads the four sources concurrently, each under its own budget, and builds
// the findings from whatever answered. A source that is unlicensed, refused, throttled past
// its retries or slow is listed in unavailable; the step fails only when none answered.
func (r *Runner) investigate(ctx context.Context, in Input) Outcome {
	days := in.Options.Investigate.Days
	if days == 0 {
		days = DefaultInvestigateDays
	}
	now := time.Now().UTC().Truncate(time.Second)
	if r.Now != nil {
		now = r.Now().UTC().Truncate(time.Second)
	}
	from := now.Add(-time.Duration(days) * 24 * time.Hour)
	budget := r.SourceBudget
	if budget <= 0 {
		budget = DefaultSourceBudget
	}
	mailbox := in.Target.UPN
	if mailbox == "" {
		mailbox = in.Target.Mail
	}

	src := investigation.Sources{From: from, To: now}
	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		failures  = map[string]error{}
		transient bool
	)
	read := func(source, what string, call func(ctx context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, budget)
			defer cancel()
			err := call(sctx)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			failures[source] = err
			// A source that used up its budget is not tried again: the budget is what the
			// contract promises a sync run. A throttled or failing one may be.
			transient = transient || isTransient(err) && sctx.Err() == nil
			src.Unavailable = append(src.Unavailable, runs.Unavailable{Source: source, Reason: unavailableReason(what, err, budget, sctx.Err() != nil)})
		}()
	}
	notRead := func(source, why string) {
		mu.Lock()
		defer mu.Unlock()
		failures[source] = errors.New(why)
		src.Unavailable = append(src.Unavailable, runs.Unavailable{Source: source, Reason: why})
	}
	if r.AuditLogs == nil {
		notRead(runs.SourceSignIn, "no Microsoft Graph audit log client is configured")
		notRead(runs.SourceDirectory, "no Microsoft Graph audit log client is configured")
	} else {
		read(runs.SourceSignIn, "sign-in logs (auditLogs/signIns)", func(ctx context.Context) error {
			found, err := r.AuditLogs.SignIns(ctx, in.Target.ID, from)
			src.SignIns = found
			return err
		})
		read(runs.SourceDirectory, "directory audit log (auditLogs/directoryAudits)", func(ctx context.Context) error {
			found, err := r.AuditLogs.DirectoryAudits(ctx, in.Target.ID, from)
			src.Directory = found
			return err
		})
	}
	var accepted inboxrules.Domains
	if r.MailLogs == nil || mailbox == "" {
		why := "no Exchange Online audit client is configured"
		if mailbox == "" {
			why = "the user has no UPN or mail address to search for"
		}
		notRead(runs.SourceMailbox, why)
		notRead(runs.SourceMail, why)
	} else {
		read(runs.SourceMailbox, "unified audit log (Search-UnifiedAuditLog)", func(ctx context.Context) error {
			found, err := r.MailLogs.UnifiedAuditLog(ctx, mailbox, from, now, investigation.MailboxOperations)
			src.Mailbox = found
			return err
		})
		read(runs.SourceMail, "message trace (Get-MessageTraceV2)", func(ctx context.Context) error {
			found, err := r.MailLogs.MessageTrace(ctx, mailbox, from, now)
			if err != nil {
				return err
			}
			src.Mail = found
			// What is external is told by the accepted domains; reading them is part of this
			// source's budget (they fall back to the directory's verified domains).
			if r.Mailboxes != nil {
				accepted, err = r.acceptedDomains(ctx, in.Target)
			}
			return err
		})
	}
	wg.Wait()
	src.Accepted = accepted
	order := map[string]int{runs.SourceSignIn: 0, runs.SourceDirectory: 1, runs.SourceMailbox: 2, runs.SourceMail: 3}
	sort.SliceStable(src.Unavailable, func(i, j int) bool { return order[src.Unavailable[i].Source] < order[src.Unavailable[j].Source] })

	findings := investigation.Build(src)
	if len(failures) == 4 {
		return Outcome{Status: runs.StepFailed, Findings: findings, Transient: transient, Error: &runs.Error{
			Code:    "no_source_available",
			Message: "investigate: no source could be read: " + joinReasons(findings.Unavailable),
		}}
	}
	msg := fmt.Sprintf("%d events from %s to %s; %d signals", len(findings.Timeline), findings.From, findings.To, len(findings.Signals))
	if len(findings.Unavailable) > 0 {
		var names []string
		for _, u := range findings.Unavailable {
			names = append(names, u.Source)
		}
		msg += "; not read: " + strings.Join(names, ", ")
	}
	return Outcome{Status: runs.StepSucceeded, Message: msg, Findings: findings}
}

// unavailableReason says why a source could not be read, in the service's words.
// expired says the source used up its budget (its error may then be a bare context error).
func unavailableReason(what string, err error, budget time.Duration, expired bool) string {
	var ge *graph.Error
	switch {
	case errors.As(err, &ge) && ge.Code == graph.SignInLicenceRequired:
		return fmt.Sprintf("%s: Microsoft Graph answered %d %s: %s (sign-in logs need Entra ID P1 or P2)", what, ge.Status, ge.Code, ge.Message)
	case expired || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s: no answer within %s; the other sources were recorded without it", what, budget)
	}
	e := explain(what, err)
	return e.Message
}

func joinReasons(us []runs.Unavailable) string {
	var parts []string
	for _, u := range us {
		parts = append(parts, u.Source+": "+u.Reason)
	}
	return strings.Join(parts, "; ")
}
