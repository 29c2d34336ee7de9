package exchange

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AuditRecord is one unified audit log record (Search-UnifiedAuditLog). The record's
// AuditData property is a JSON document serialised as a string; the fields read from it
// are here, the client IP as the service wrote it (it may carry a port).
type AuditRecord struct {
	Time         time.Time // CreationDate, UTC
	Operation    string    // Operations, e.g. "New-InboxRule"
	UserID       string    // UserIds
	RecordType   string
	ClientIP     string // AuditData.ClientIP, or ClientIPAddress for mailbox audit records
	ObjectID     string // AuditData.ObjectId
	ResultStatus string // AuditData.ResultStatus
	// Parameters are AuditData.Parameters (Name/Value pairs of the cmdlet the attacker ran),
	// or for a mailbox audit record its OperationProperties.
	Parameters map[string]string
	// SessionID and TokenID are AuditData.AppAccessContext.AADSessionId and UniqueTokenId:
	// the Entra ID session and token the action was done with, the same values as a
	// sign-in's sessionId and uniqueTokenIdentifier (Graph beta), so an action can be tied
	// to the sign-in that opened the session.
	SessionID, TokenID string
	// Items is how many mail items a MailItemsAccessed record covers (its Folders'
	// FolderItems, else OperationCount, else 1); Folders are the folder paths it names.
	Items   int
	Folders []string
}

type auditRecordWire struct {
	CreationDate text
	Operations   text
	UserIds      text
	RecordType   text
	AuditData    json.RawMessage
	ResultIndex  integer
	ResultCount  integer
}

type auditData struct {
	CreationTime    string
	Operation       string
	ClientIP        string
	ClientIPAddress string
	ObjectId        string
	ResultStatus    string
	Parameters      []struct {
		Name  string
		Value string
	}
	// Mailbox audit records (RecordType ExchangeItem / ExchangeItemAggregated) carry
	// OperationProperties instead of Parameters.
	OperationProperties []struct {
		Name  string
		Value string
	}
	AppAccessContext struct {
		AADSessionId  string
		UniqueTokenId string
	}
	OperationCount int
	Folders        []struct {
		Path        string
		FolderItems []json.RawMessage
	}
}

// Search-UnifiedAuditLog answers at most 5000 records per call; with a SessionId and
// SessionCommand ReturnLargeSet the same call repeated returns the next ones, up to 50,000
// (learn.microsoft.com/powershell/module/exchangepowershell/search-unifiedauditlog). A
// batch whose records say ResultIndex -1 or ResultCount 0 is a time-out on the server side
// (what public collectors retry with a new session): the search starts again with a new
// SessionId, at most auditMaxRetries times.
const (
	auditPageSize   = 5000
	auditMaxRounds  = 10
	auditMaxRecords = auditPageSize * auditMaxRounds // the service's limit of one session
	auditMaxRetries = 3
)

// ErrAuditSearchTimedOut says Search-UnifiedAuditLog timed out on the server every time.
var ErrAuditSearchTimedOut = errors.New("Search-UnifiedAuditLog timed out on the server (batches with ResultIndex -1 or ResultCount 0)")

// AuditSearch is what a unified audit log search brought back.
type AuditSearch struct {
	Records []AuditRecord
	// Truncated: the search stopped at the service's limit of 50,000 records of a session;
	// more records matched than these.
	Truncated bool
	// Retries counts the searches started again after a server time-out.
	Retries int
}

// UnifiedAuditLog searches the unified audit log for the operations the user ran between
// start and end, every round of the session. An empty upn searches every user's records
// (tenant-wide, e.g. who changed the audit configuration).
func (c *Client) UnifiedAuditLog(ctx context.Context, upn string, start, end time.Time, operations []string) ([]AuditRecord, error) {
	found, err := c.SearchUnifiedAuditLog(ctx, upn, start, end, operations)
	return found.Records, err
}

// SearchUnifiedAuditLog is UnifiedAuditLog that also says whether the answer was cut at the
// service's limit, and starts again with a new session after a server time-out.
func (c *Client) SearchUnifiedAuditLog(ctx context.Context, upn string, start, end time.Time, operations []string) (AuditSearch, error) {
	if upn != "" {
		if err := validateAddress(upn); err != nil {
			return AuditSearch{}, fmt.Errorf("exchange.UnifiedAuditLog: %w", err)
		}
	}
	for _, op := range operations {
		if !cmdletPattern.MatchString(op) && !opPattern(op) {
			return AuditSearch{}, fmt.Errorf("exchange.UnifiedAuditLog: %w: operation %q", ErrInvalidArgument, op)
		}
	}
	var result AuditSearch
	for attempt := 0; ; attempt++ {
		found, timedOut, err := c.auditSession(ctx, upn, start, end, operations)
		if err != nil {
			return AuditSearch{}, err
		}
		if !timedOut {
			found.Retries = result.Retries
			return found, nil
		}
		if attempt == auditMaxRetries {
			return AuditSearch{}, fmt.Errorf("exchange.UnifiedAuditLog: %w, %d times", ErrAuditSearchTimedOut, attempt+1)
		}
		result.Retries++
	}
}

// auditSession runs one search session, round after round; timedOut says a batch came back
// marked as a server time-out (the session's records are then not to be trusted).
func (c *Client) auditSession(ctx context.Context, upn string, start, end time.Time, operations []string) (AuditSearch, bool, error) {
	const cmdlet = "Search-UnifiedAuditLog"
	session := make([]byte, 16)
	_, _ = rand.Read(session)
	params := map[string]any{
		"StartDate":      start.UTC().Format(time.RFC3339),
		"EndDate":        end.UTC().Format(time.RFC3339),
		"ResultSize":     auditPageSize,
		"SessionId":      "tourniquet-" + hex.EncodeToString(session),
		"SessionCommand": "ReturnLargeSet",
	}
	if len(operations) > 0 {
		params["Operations"] = operations
	}
	if upn != "" {
		params["UserIds"] = []string{upn}
	}
	var out AuditSearch
	for round := 0; round < auditMaxRounds; round++ {
		items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, params)
		if err != nil {
			return AuditSearch{}, false, fmt.Errorf("exchange.UnifiedAuditLog: %w", err)
		}
		if len(items) == 0 {
			return out, false, nil
		}
		last := 0
		count := 0
		for i, item := range items {
			var w auditRecordWire
			raw, _, err := decodeItem(item, &w)
			if err != nil {
				return AuditSearch{}, false, fmt.Errorf("exchange.UnifiedAuditLog: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
			}
			if _, counted := raw["ResultCount"]; w.ResultIndex == -1 || counted && w.ResultCount == 0 {
				return AuditSearch{}, true, nil
			}
			rec, err := toAuditRecord(w)
			if err != nil {
				return AuditSearch{}, false, fmt.Errorf("exchange.UnifiedAuditLog: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
			}
			out.Records = append(out.Records, rec)
			last, count = max(last, int(w.ResultIndex)), int(w.ResultCount)
		}
		// ResultIndex counts the records of the session so far, ResultCount all of them.
		if last >= count || len(items) < auditPageSize {
			out.Truncated = len(out.Records) >= auditMaxRecords && count > len(out.Records)
			return out, false, nil
		}
	}
	// Ten full rounds: the session's limit. What is left is not read.
	out.Truncated = true
	return out, false, nil
}

// opPattern accepts the mailbox audit operation names that are not Verb-Noun
// ("UpdateInboxRules", "MailItemsAccessed").
func opPattern(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !isASCIIAlnum(r) {
			return false
		}
	}
	return true
}

func toAuditRecord(w auditRecordWire) (AuditRecord, error) {
	rec := AuditRecord{Operation: string(w.Operations), UserID: string(w.UserIds), RecordType: string(w.RecordType)}
	// AuditData is a string holding JSON; an object is accepted too, should a proxy or a
	// later API version send it unwrapped.
	var data auditData
	raw := bytes.TrimSpace(w.AuditData)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return rec, err
		}
		raw = []byte(s)
	}
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &data); err != nil {
			return rec, fmt.Errorf("AuditData is not JSON: %w", err)
		}
	}
	when := string(w.CreationDate)
	if when == "" {
		when = data.CreationTime
	}
	t, err := parseExchangeTime(when)
	if err != nil {
		return rec, err
	}
	rec.Time = t
	if rec.Operation == "" {
		rec.Operation = data.Operation
	}
	rec.ClientIP = data.ClientIP
	if rec.ClientIP == "" {
		rec.ClientIP = data.ClientIPAddress
	}
	rec.ObjectID, rec.ResultStatus = data.ObjectId, data.ResultStatus
	if len(data.Parameters) > 0 || len(data.OperationProperties) > 0 {
		rec.Parameters = map[string]string{}
		for _, p := range data.OperationProperties {
			rec.Parameters[p.Name] = p.Value
		}
		for _, p := range data.Parameters {
			rec.Parameters[p.Name] = p.Value
		}
	}
	rec.SessionID = strings.TrimSpace(data.AppAccessContext.AADSessionId)
	rec.TokenID = strings.TrimSpace(data.AppAccessContext.UniqueTokenId)
	if strings.EqualFold(rec.Operation, "MailItemsAccessed") {
		for _, f := range data.Folders {
			rec.Items += len(f.FolderItems)
			if f.Path != "" {
				rec.Folders = append(rec.Folders, f.Path)
			}
		}
		if rec.Items == 0 {
			rec.Items = max(data.OperationCount, 1)
		}
	}
	return rec, nil
}

// TracedMessage is one message of a message trace (Get-MessageTraceV2): one row per
// recipient.
type TracedMessage struct {
	Received         time.Time // UTC
	SenderAddress    string
	RecipientAddress string
	Subject          string
	Status           string
	FromIP           string
	MessageTraceID   string
}

type tracedMessageWire struct {
	Received         text
	SenderAddress    text
	RecipientAddress text
	Subject          text
	Status           text
	FromIP           text
	MessageTraceId   text
}

// Get-MessageTraceV2 answers at most 10 days per query and at most 5000 rows; it has no
// paging of its own: the next rows are asked for with StartingRecipientAddress and
// EndDate set from the last row (learn.microsoft.com/powershell/module/exchange/get-messagetracev2).
const (
	traceWindow    = 10 * 24 * time.Hour
	tracePageSize  = 5000
	traceMaxRounds = 4 // per window: 20,000 rows
)

// MessageTrace lists the messages sent from any of senders (SMTP addresses: SenderAddress
// takes several, and filters on the sender's SMTP address, not the UPN) between start and
// end, newest first, in windows of at most ten days.
func (c *Client) MessageTrace(ctx context.Context, senders []string, start, end time.Time) ([]TracedMessage, error) {
	const cmdlet = "Get-MessageTraceV2"
	if len(senders) == 0 {
		return nil, fmt.Errorf("exchange.MessageTrace: %w: no sender address", ErrInvalidArgument)
	}
	for _, sender := range senders {
		if err := validateAddress(sender); err != nil {
			return nil, fmt.Errorf("exchange.MessageTrace: %w", err)
		}
	}
	var out []TracedMessage
	for windowEnd := end.UTC(); windowEnd.After(start); windowEnd = windowEnd.Add(-traceWindow) {
		windowStart := windowEnd.Add(-traceWindow)
		if windowStart.Before(start) {
			windowStart = start.UTC()
		}
		params := map[string]any{
			"SenderAddress": senders,
			"StartDate":     windowStart.Format(time.RFC3339),
			"EndDate":       windowEnd.Format(time.RFC3339),
			"ResultSize":    tracePageSize,
		}
		for round := 0; round < traceMaxRounds; round++ {
			items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, params)
			if err != nil {
				return nil, fmt.Errorf("exchange.MessageTrace: %w", err)
			}
			for i, item := range items {
				var w tracedMessageWire
				if _, _, err := decodeItem(item, &w); err != nil {
					return nil, fmt.Errorf("exchange.MessageTrace: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: %w", i, err)))
				}
				received, err := parseExchangeTime(string(w.Received))
				if err != nil {
					return nil, fmt.Errorf("exchange.MessageTrace: %w", invalidAnswer(cmdlet, fmt.Errorf("entry %d: Received: %w", i, err)))
				}
				out = append(out, TracedMessage{
					Received: received, SenderAddress: string(w.SenderAddress), RecipientAddress: strings.ToLower(string(w.RecipientAddress)),
					Subject: string(w.Subject), Status: string(w.Status), FromIP: string(w.FromIP), MessageTraceID: string(w.MessageTraceId),
				})
			}
			if len(items) < tracePageSize {
				break
			}
			lastRow := out[len(out)-1]
			params["StartingRecipientAddress"] = lastRow.RecipientAddress
			params["EndDate"] = lastRow.Received.Format(time.RFC3339Nano)
		}
	}
	return out, nil
}

// AuditConfig is the part of Get-AdminAuditLogConfig that says whether the tenant records
// anything in the unified audit log.
type AuditConfig struct {
	// UnifiedAuditLogIngestionEnabled false: the unified audit log records nothing new (an
	// administrator, or an attacker with admin rights, can turn it off with
	// Set-AdminAuditLogConfig); an empty search is then no evidence that nothing happened.
	UnifiedAuditLogIngestionEnabled bool
	Raw                             map[string]any
}

type auditConfigWire struct {
	UnifiedAuditLogIngestionEnabled flag
}

// AdminAuditLogConfig reads Get-AdminAuditLogConfig.
func (c *Client) AdminAuditLogConfig(ctx context.Context) (AuditConfig, error) {
	const cmdlet = "Get-AdminAuditLogConfig"
	items, err := c.invoke(ctx, AnchorApp(c.tenantID), cmdlet, map[string]any{})
	if err != nil {
		return AuditConfig{}, fmt.Errorf("exchange.AdminAuditLogConfig: %w", err)
	}
	if len(items) != 1 {
		return AuditConfig{}, fmt.Errorf("exchange.AdminAuditLogConfig: %w", invalidAnswer(cmdlet, fmt.Errorf("%d items, want 1", len(items))))
	}
	var w auditConfigWire
	raw, _, err := decodeItem(items[0], &w)
	if err != nil {
		return AuditConfig{}, fmt.Errorf("exchange.AdminAuditLogConfig: %w", invalidAnswer(cmdlet, err))
	}
	if _, ok := raw["UnifiedAuditLogIngestionEnabled"]; !ok {
		return AuditConfig{}, fmt.Errorf("exchange.AdminAuditLogConfig: %w", invalidAnswer(cmdlet, fmt.Errorf("no UnifiedAuditLogIngestionEnabled")))
	}
	return AuditConfig{UnifiedAuditLogIngestionEnabled: bool(w.UnifiedAuditLogIngestionEnabled), Raw: raw}, nil
}
