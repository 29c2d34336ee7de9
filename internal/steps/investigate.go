package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

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
	SearchUnifiedAuditLog(ctx context.Context, upn string, start, end time.Time, operations []string) (exchange.AuditSearch, error)
	MessageTrace(ctx context.Context, senders []string, start, end time.Time) ([]exchange.TracedMessage, error)
	AdminAuditLogConfig(ctx context.Context) (exchange.AuditConfig, error)
}

// UserSignInsReader lists a user's interactive and non-interactive sign-ins (Graph beta,
// the non-interactive ones bounded; v1.0 when beta refuses); an AuditLogs without it is
// read through SignIns, interactive only.
type UserSignInsReader interface {
	UserSignIns(ctx context.Context, userID string, since time.Time) (graph.SignInsRead, error)
}

// RelatedSignIns and ForwardingLookup are the tenant-wide, read-only look-ups for related
// users; a client without them leaves findings.related empty with a note.
type RelatedSignIns interface {
	SignInsFromIP(ctx context.Context, ip string, since time.Time, top int) ([]graph.SignIn, bool, error)
}

// ForwardingLookup finds the mailboxes forwarding to an address.
type ForwardingLookup interface {
	MailboxesForwardingTo(ctx context.Context, addr string) ([]exchange.Mailbox, error)
}

var (
	_ AuditLogs         = (*graph.Client)(nil)
	_ MailLogs          = (*exchange.Client)(nil)
	_ RelatedSignIns    = (*graph.Client)(nil)
	_ UserSignInsReader = (*graph.Client)(nil)
	_ ForwardingLookup  = (*exchange.Client)(nil)
)

// relatedSignInPage is the page size of each tenant-wide sign-in look-up by address: one
// page per address, so the cost is bounded however busy the address is.
const relatedSignInPage = 100

// DefaultSourceBudget is how long investigate waits for each source (contract 1.1.1: at
// most 20 s per source in a sync run). A source that takes longer is named unavailable.
const DefaultSourceBudget = 20 * time.Second

// AsyncSourceBudget is each source's budget when nobody waits on the answer (a run through
// the queues): a unified audit log search over a busy mailbox takes minutes, and cutting it
// at 20 s would report "unavailable" where patience finds the record. It stays under the
// step's own time budget (two minutes) with room for the step's other work.
const AsyncSourceBudget = 90 * time.Second

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
	if in.Async {
		budget = r.AsyncSourceBudget
		if budget <= 0 {
			budget = AsyncSourceBudget
		}
	}
	mailbox := in.Target.UPN
	if mailbox == "" {
		mailbox = in.Target.Mail
	}

	src := investigation.Sources{From: from, To: now, UserID: in.Target.ID}
	// The mailbox is read once for the sources that need it (sender addresses, whether it
	// audits MailItemsAccessed).
	getMailbox := sync.OnceValues(func() (exchange.Mailbox, error) {
		if r.Mailboxes == nil {
			return exchange.Mailbox{}, errors.New("no Exchange Online client is configured")
		}
		mctx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		return r.Mailboxes.GetMailbox(mctx, mailbox)
	})
	var (
		mu        sync.Mutex
		wg        sync.WaitGroup
		failures  = map[string]error{}
		transient bool
		auditOff  bool
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
	note := func(text string) {
		mu.Lock()
		defer mu.Unlock()
		src.Notes = append(src.Notes, text)
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
			reader, ok := r.AuditLogs.(UserSignInsReader)
			if !ok {
				found, err := r.AuditLogs.SignIns(ctx, in.Target.ID, from)
				src.SignIns = found
				if err == nil {
					note(interactiveOnly + "the audit log client reads v1.0 only")
				}
				return err
			}
			got, err := reader.UserSignIns(ctx, in.Target.ID, from)
			src.SignIns = got.SignIns
			if err == nil && !got.NonInteractive {
				why := "Graph's beta endpoint, which lists them, was not used"
				if got.BetaError != nil {
					why = "Graph's beta endpoint, which lists them, answered: " + got.BetaError.Error()
				}
				note(interactiveOnly + why)
			}
			if err == nil && got.NonInteractiveCut != "" {
				note("sign-ins: " + got.NonInteractiveCut + " (the interactive ones were all read)")
			}
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
			// Three reads at once, none needs another: whether the tenant records anything
			// at all (with ingestion off an empty search is no evidence that nothing
			// happened), the user's mailbox changes, and who changed the audit configuration
			// in the window, whoever it was.
			var (
				cfg            exchange.AuditConfig
				cfgErr         error
				found, changes exchange.AuditSearch
			)
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { cfg, cfgErr = r.MailLogs.AdminAuditLogConfig(gctx); return nil })
			g.Go(func() (err error) {
				found, err = r.MailLogs.SearchUnifiedAuditLog(gctx, mailbox, from, now, investigation.MailboxOperations)
				return err
			})
			g.Go(func() (err error) {
				changes, err = r.MailLogs.SearchUnifiedAuditLog(gctx, "", from, now, investigation.AuditConfigOperations)
				return err
			})
			if err := g.Wait(); err != nil {
				return err
			}
			src.Mailbox = append(found.Records, changes.Records...)
			mu.Lock()
			defer mu.Unlock()
			if found.Truncated || changes.Truncated {
				if !slices.Contains(src.Truncated, runs.SourceMailbox) {
					src.Truncated = append(src.Truncated, runs.SourceMailbox)
				}
				src.Notes = append(src.Notes, "the unified audit log search stopped at the service's limit of 50,000 records of a session: more mailbox changes happened than the timeline shows (a shorter window, options.investigate.days, reads them)")
			}
			if n := found.Retries + changes.Retries; n > 0 {
				src.Notes = append(src.Notes, fmt.Sprintf("the unified audit log search timed out on the server (ResultIndex -1) and was run again with a new session %d time(s)", n))
			}
			switch {
			case cfgErr != nil:
				src.Notes = append(src.Notes, "whether the tenant records mailbox audit could not be read (Get-AdminAuditLogConfig): "+explain("audit configuration", cfgErr).Message)
			case !cfg.UnifiedAuditLogIngestionEnabled:
				auditOff = true
			}
			return nil
		})
		r.readMailItemsAccessed(ctx, mailbox, from, now, budget, getMailbox, &src, &mu, &wg)
		read(runs.SourceMail, "message trace", func(ctx context.Context) error {
			senders, why, err := r.senderAddresses(in.Target, getMailbox)
			if err != nil {
				return err
			}
			if why != "" {
				note(why)
			}
			// What is external is told by the accepted domains, read beside the trace;
			// reading them is part of this source's budget (they fall back to the
			// directory's verified domains).
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error {
				found, via, err := r.messageTrace(gctx, senders, from, now)
				if via != "" {
					note(via)
				}
				if err != nil {
					return err
				}
				src.Mail = found
				return nil
			})
			if r.Mailboxes != nil {
				g.Go(func() (err error) { accepted, err = r.acceptedDomains(gctx, in.Target); return err })
			}
			return g.Wait()
		})
	}
	wg.Wait()
	src.Accepted = accepted
	if failures[runs.SourceMailbox] != nil || auditOff {
		// The unified audit log as a whole could not be read, or records nothing: its entry
		// for the mailbox source says so for the MailItemsAccessed records too.
		src.Unavailable = slices.DeleteFunc(src.Unavailable, func(u runs.Unavailable) bool {
			return u.Source == runs.SourceMailbox && strings.HasPrefix(u.Reason, mailReadUnavailable)
		})
	}
	if auditOff {
		notRead(runs.SourceMailbox, auditOffReason)
	}
	order := map[string]int{runs.SourceSignIn: 0, runs.SourceDirectory: 1, runs.SourceMailbox: 2, runs.SourceMail: 3}
	sort.SliceStable(src.Unavailable, func(i, j int) bool { return order[src.Unavailable[i].Source] < order[src.Unavailable[j].Source] })

	findings := investigation.Build(src)
	failed := 0
	for _, source := range []string{runs.SourceSignIn, runs.SourceDirectory, runs.SourceMailbox, runs.SourceMail} {
		if failures[source] != nil {
			failed++
		}
	}
	if failed < 4 {
		r.relatedUsers(ctx, in.Target, src, findings, budget)
	}
	if failed == 4 {
		return Outcome{Status: runs.StepFailed, Findings: findings, Transient: transient, Error: &runs.Error{
			Code:    "no_source_available",
			Message: "investigate: no source could be read: " + joinReasons(findings.Unavailable),
		}}
	}
	msg := fmt.Sprintf("%d events from %s to %s; %d signals", len(findings.Timeline), findings.From, findings.To, len(findings.Signals))
	if len(findings.Unavailable) > 0 {
		var names []string
		for _, u := range findings.Unavailable {
			name := u.Source
			if strings.HasPrefix(u.Reason, mailReadUnavailable) {
				name = "mail read (MailItemsAccessed)"
			}
			names = append(names, name)
		}
		msg += "; not read: " + strings.Join(names, ", ")
	}
	return Outcome{Status: runs.StepSucceeded, Message: msg, Findings: findings}
}

// MessageTraceReader is Graph's message trace (admin/exchange/tracing/messageTraces),
// preferred to Exchange's Get-MessageTraceV2 where the tenant allows it.
type MessageTraceReader interface {
	MessageTraces(ctx context.Context, senders []string, start, end time.Time) ([]graph.MessageTrace, error)
}

var _ MessageTraceReader = (*graph.Client)(nil)

// messageTrace reads the mail sent from senders: Graph's message trace first (typed,
// managed identity, ExchangeMessageTrace.Read.All), Get-MessageTraceV2 when Graph refuses
// (its first-party service principal not provisioned answers 401, a missing permission
// 403, its 100 requests per 5 minutes 429) or the client has none. via says which one
// answered, and why the other did not, for the findings' notes (also when neither did).
func (r *Runner) messageTrace(ctx context.Context, senders []string, from, to time.Time) ([]exchange.TracedMessage, string, error) {
	const graphName = "Microsoft Graph's message trace (admin/exchange/tracing/messageTraces)"
	const exoName = "Exchange Online's Get-MessageTraceV2"
	why := "the Graph client has no message trace"
	if reader, ok := r.AuditLogs.(MessageTraceReader); ok && r.AuditLogs != nil {
		if len(senders) > graph.MaxMessageTraceSenders {
			why = fmt.Sprintf("the mailbox has %d sender addresses, more than the %d Graph queries per window Tourniquet spends (one per address)", len(senders), graph.MaxMessageTraceSenders)
		} else {
			rows, err := reader.MessageTraces(ctx, senders, from, to)
			if err == nil {
				out := make([]exchange.TracedMessage, 0, len(rows))
				for _, m := range rows {
					out = append(out, exchange.TracedMessage{Received: m.Received, SenderAddress: m.Sender, RecipientAddress: m.Recipient,
						Subject: m.Subject, Status: m.Status, FromIP: m.FromIP, MessageTraceID: m.ID})
				}
				return out, "sent mail was read from " + graphName, nil
			}
			if ctx.Err() != nil {
				return nil, "", err
			}
			why = graphName + " answered: " + err.Error()
			var ge *graph.Error
			if errors.As(err, &ge) && strings.Contains(ge.Message, graph.MessageTraceAppID) {
				why += " (provision its service principal: New-MgServicePrincipal -AppId " + graph.MessageTraceAppID + ")"
			}
		}
	}
	found, err := r.MailLogs.MessageTrace(ctx, senders, from, to)
	if err != nil {
		return nil, "sent mail: " + exoName + " failed too (see unavailable); " + why, err
	}
	return found, "sent mail was read with " + exoName + ": " + why, nil
}

// senderAddresses are the addresses the message trace is asked by: the mailbox's primary
// SMTP address and its other SMTP proxy addresses (Get-Mailbox EmailAddresses), not the
// UPN, which need not be an address at all. Without a mailbox to read them from it falls
// back to the user's mail and UPN, and says so.
func (r *Runner) senderAddresses(target Target, getMailbox func() (exchange.Mailbox, error)) ([]string, string, error) {
	fallback := func() []string {
		var out []string
		for _, a := range []string{target.Mail, target.UPN} {
			a = strings.ToLower(strings.TrimSpace(a))
			if strings.Contains(a, "@") && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
		return out
	}
	if r.Mailboxes == nil {
		return fallback(), "sent mail was traced by the user's mail address and UPN: no Exchange client to read the mailbox's addresses", nil
	}
	mb, err := getMailbox()
	if exchange.IsNotFound(err) {
		return fallback(), "the user has no mailbox: sent mail was traced by the user's mail address and UPN", nil
	}
	if err != nil {
		return nil, "", err
	}
	senders := mb.SenderAddresses()
	if len(senders) == 0 {
		return fallback(), "the mailbox lists no SMTP address: sent mail was traced by the user's mail address and UPN", nil
	}
	return senders, "", nil
}

// relatedUsers looks, read-only and bounded, for the other users the indicators point at:
// sign-ins of anyone from an indicator address within the window (one page per address,
// at most investigation.MaxRelatedLookups addresses) and mailboxes forwarding to the
// external addresses the investigated mailbox's mail was sent to. The look-ups share one
// budget; what they could not read is said in a note.
func (r *Runner) relatedUsers(ctx context.Context, target Target, src investigation.Sources, f *runs.Findings, budget time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	in := investigation.RelatedInput{TargetID: target.ID, TargetUPN: target.UPN,
		SignInsFrom: map[string][]graph.SignIn{}, ForwardingTo: map[string][]exchange.Mailbox{}}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	var notes []string
	note := func(text string) {
		mu.Lock()
		defer mu.Unlock()
		notes = append(notes, text)
	}
	ips := f.Indicators.IPs
	if len(ips) > investigation.MaxRelatedLookups {
		note(fmt.Sprintf("related users: only the first %d of %d indicator addresses were looked up", investigation.MaxRelatedLookups, len(ips)))
		ips = ips[:investigation.MaxRelatedLookups]
	}
	if lookup, ok := r.AuditLogs.(RelatedSignIns); ok && r.AuditLogs != nil {
		for _, ip := range ips {
			wg.Add(1)
			go func() {
				defer wg.Done()
				found, more, err := lookup.SignInsFromIP(ctx, ip, src.From, relatedSignInPage)
				if err != nil {
					note(fmt.Sprintf("related users: sign-ins from %s could not be read: %v", ip, err))
					return
				}
				if more {
					note(fmt.Sprintf("related users: sign-ins from %s: only the newest %d were read", ip, relatedSignInPage))
				}
				mu.Lock()
				defer mu.Unlock()
				in.SignInsFrom[ip] = found
			}()
		}
	} else if len(ips) > 0 {
		note("related users: sign-ins by address were not looked up (no Microsoft Graph audit log client)")
	}
	forwards := investigation.ForwardTargets(src)
	if len(forwards) > investigation.MaxRelatedLookups {
		note(fmt.Sprintf("related users: only the first %d of %d forwarding addresses were looked up", investigation.MaxRelatedLookups, len(forwards)))
		forwards = forwards[:investigation.MaxRelatedLookups]
	}
	if lookup, ok := r.Mailboxes.(ForwardingLookup); ok && r.Mailboxes != nil {
		for _, addr := range forwards {
			wg.Add(1)
			go func() {
				defer wg.Done()
				found, err := lookup.MailboxesForwardingTo(ctx, addr)
				if err != nil {
					note(fmt.Sprintf("related users: mailboxes forwarding to %s could not be read: %v", addr, err))
					return
				}
				mu.Lock()
				defer mu.Unlock()
				in.ForwardingTo[addr] = found
			}()
		}
	} else if len(forwards) > 0 {
		note("related users: mailboxes forwarding to the same addresses were not looked up (no Exchange Online client)")
	}
	wg.Wait()
	sort.Strings(notes)
	f.Notes = append(f.Notes, notes...)
	f.Related = investigation.Related(in)
}

// interactiveOnly starts the note of a sign-in listing without the non-interactive ones.
const interactiveOnly = "sign-ins: only interactive sign-ins were read (Graph v1.0): a stolen token replayed shows only as a non-interactive sign-in, so its absence here is no evidence; "

// mailReadUnavailable starts the reason of the mailbox source's unavailable entry for the
// MailItemsAccessed records alone (the part of the mailbox source the tenant's licence may
// not record; the contract's four source names stay the only ones).
const mailReadUnavailable = "mail read (MailItemsAccessed records): "

// readMailItemsAccessed reads, beside the mailbox source and under its own budget, the
// mailbox's MailItemsAccessed records (summarised per session by the findings). Whether
// the mailbox records them at all is read first from Get-Mailbox's audit action lists: a
// mailbox that does not (no Audit Premium or a licence that records it) makes the source
// unavailable with that reason, instead of an empty result read as "nothing was read".
func (r *Runner) readMailItemsAccessed(ctx context.Context, mailbox string, from, now time.Time, budget time.Duration,
	getMailbox func() (exchange.Mailbox, error), src *investigation.Sources, mu *sync.Mutex, wg *sync.WaitGroup) {
	unavailable := func(why string) {
		mu.Lock()
		defer mu.Unlock()
		src.Unavailable = append(src.Unavailable, runs.Unavailable{Source: runs.SourceMailbox, Reason: mailReadUnavailable + why})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sctx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		const what = "MailItemsAccessed records (Search-UnifiedAuditLog)"
		known, audited, how := false, false, ""
		if r.Mailboxes != nil {
			mb, err := getMailbox()
			switch {
			case exchange.IsNotFound(err):
				return // no mailbox, no mail to read (the mailbox steps say so)
			case err == nil:
				audited, known, how = mb.MailItemsAccessedAudit()
			default:
				how = "Get-Mailbox could not be read: " + explain("mailbox", err).Message
			}
		}
		if known && !audited {
			unavailable(how + "; what the attacker read is not recorded")
			return
		}
		found, err := r.MailLogs.SearchUnifiedAuditLog(sctx, mailbox, from, now, []string{investigation.MailItemsAccessedOperation})
		if err != nil {
			unavailable(unavailableReason(what, err, budget, sctx.Err() != nil))
			return
		}
		mu.Lock()
		defer mu.Unlock()
		src.MailItems = found.Records
		if found.Truncated {
			if !slices.Contains(src.Truncated, runs.SourceMailbox) {
				src.Truncated = append(src.Truncated, runs.SourceMailbox)
			}
			src.Notes = append(src.Notes, "the MailItemsAccessed search stopped at the service's limit of 50,000 records of a session: more mail was read than the summary counts")
		}
		throttled := false
		for _, rec := range found.Records {
			throttled = throttled || strings.EqualFold(rec.Parameters["IsThrottled"], "true")
		}
		switch {
		case throttled:
			src.Notes = append(src.Notes, "MailItemsAccessed records are throttled (IsThrottled True): a mailbox with more than 1,000 such records in 24 hours stops recording them for the next 24 hours, so later reads are missing")
		case len(found.Records) == 0 && !known:
			src.Notes = append(src.Notes, "no MailItemsAccessed record was found, and whether the mailbox records them could not be told ("+how+"): this is no evidence that nothing was read")
		}
	}()
}

// auditOffReason is why the mailbox source is unavailable in a tenant whose unified audit
// log is off; the records found (from before it was turned off) stay in the timeline.
const auditOffReason = "unified audit log ingestion is off (Get-AdminAuditLogConfig: UnifiedAuditLogIngestionEnabled is False): " +
	"mailbox changes since it was turned off are not recorded, so an empty result is no evidence that nothing happened"

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
