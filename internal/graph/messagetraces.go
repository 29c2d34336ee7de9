package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// MessageTraceAppID is the application (client) id of Microsoft's first-party application
// behind Graph's message trace API: its service principal must be provisioned in the tenant
// (New-MgServicePrincipal -AppId 8bd644d1-...) before admin/exchange/tracing/messageTraces
// answers (exchangeMessageTrace resource, "Prerequisites"). Without it Graph answers 401
// "Service principal-less authentication failed: The service principal for App ID
// 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 was not found" (elastic/integrations#18240,
// demisto/content#44407).
const MessageTraceAppID = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"

// Message trace limits (List messageTraces, v1.0): receivedDateTime ge/le spanning at most
// 10 days, the start at most 90 days back; $top 1 to 5000 (default 1000); 100 requests per
// 5 minutes per tenant (Graph's service-specific throttling limits).
const (
	MessageTraceWindow   = 10 * 24 * time.Hour
	MessageTraceLookBack = 90 * 24 * time.Hour
	messageTracePage     = 1000
	// messageTraceMaxPages bounds one sender's window: 20,000 rows.
	messageTraceMaxPages = 20
	// MaxMessageTraceSenders bounds the queries of one listing (one per sender address and
	// window), well under the tenant's 100 requests per 5 minutes.
	MaxMessageTraceSenders = 10
)

// MessageTrace is one row of Graph's message trace (exchangeMessageTrace): one per
// recipient of a message.
type MessageTrace struct {
	ID        string
	Received  time.Time // receivedDateTime, UTC
	Sender    string    // senderAddress
	Recipient string    // recipientAddress, lower case
	Subject   string
	Status    string // delivered, failed, pending, quarantined, filteredAsSpam, ...
	FromIP    string
	MessageID string
}

type messageTraceWire struct {
	ID               string `json:"id"`
	SenderAddress    string `json:"senderAddress"`
	RecipientAddress string `json:"recipientAddress"`
	MessageID        string `json:"messageId"`
	ReceivedDateTime string `json:"receivedDateTime"`
	Subject          string `json:"subject"`
	Status           string `json:"status"`
	FromIP           string `json:"fromIP"`
}

type messageTracePageWire struct {
	Value    []messageTraceWire `json:"value"`
	NextLink string             `json:"@odata.nextLink"`
}

// MessageTraces lists the messages sent from any of senders (SMTP addresses: the API
// filters senderAddress with eq only, so one query per address) between start and end,
// in windows of at most 10 days, every page. msgraph-sdk-go has no request builder for
// the API (v1.89), so each page is a raw request through the client's request adapter:
// the same authentication, retries, throttle and error mapping as every other call.
func (c *Client) MessageTraces(ctx context.Context, senders []string, start, end time.Time) ([]MessageTrace, error) {
	const op = "MessageTraces"
	if len(senders) == 0 || len(senders) > MaxMessageTraceSenders {
		return nil, fmt.Errorf("graph %s: %w: want 1 to %d sender addresses, got %d", op, ErrInvalidID, MaxMessageTraceSenders, len(senders))
	}
	for _, s := range senders {
		if !validSMTP(s) {
			return nil, invalid(op, "sender address", s)
		}
	}
	start, end = start.UTC().Truncate(time.Second), end.UTC().Truncate(time.Second)
	if oldest := c.now().UTC().Add(-MessageTraceLookBack).Add(time.Minute); start.Before(oldest) {
		start = oldest
	}
	var out []MessageTrace
	for windowEnd := end; windowEnd.After(start); windowEnd = windowEnd.Add(-MessageTraceWindow) {
		windowStart := windowEnd.Add(-MessageTraceWindow)
		if windowStart.Before(start) {
			windowStart = start
		}
		for _, sender := range senders {
			filter := fmt.Sprintf("senderAddress eq '%s' and receivedDateTime ge %s and receivedDateTime le %s",
				strings.ToLower(sender), windowStart.Format(time.RFC3339), windowEnd.Format(time.RFC3339))
			link := c.baseURL + "/admin/exchange/tracing/messageTraces?%24filter=" + escapeQuery(filter) + fmt.Sprintf("&%%24top=%d", messageTracePage)
			for page := 0; link != ""; page++ {
				if page == messageTraceMaxPages {
					return nil, &Error{Op: op, Message: fmt.Sprintf("more than %d pages for %s; giving up", messageTraceMaxPages, sender)}
				}
				got, err := c.messageTracePage(ctx, op, link)
				if err != nil {
					return nil, err
				}
				for _, w := range got.Value {
					t, err := time.Parse(time.RFC3339Nano, w.ReceivedDateTime)
					if err != nil {
						return nil, &Error{Op: op, Message: fmt.Sprintf("receivedDateTime %q: %v", w.ReceivedDateTime, err)}
					}
					out = append(out, MessageTrace{ID: w.ID, Received: t.UTC(), Sender: w.SenderAddress, Recipient: strings.ToLower(strings.TrimSpace(w.RecipientAddress)),
						Subject: w.Subject, Status: w.Status, FromIP: w.FromIP, MessageID: w.MessageID})
				}
				if got.NextLink != "" {
					if err := checkNextLinkUnder(got.NextLink, c.baseURL); err != nil {
						return nil, &Error{Op: op, Message: err.Error()}
					}
				}
				link = got.NextLink
			}
		}
	}
	return out, nil
}

// messageTracePage reads one page (an absolute URL under the Graph root).
func (c *Client) messageTracePage(ctx context.Context, op, link string) (messageTracePageWire, error) {
	u, err := url.Parse(link)
	if err != nil {
		return messageTracePageWire{}, &Error{Op: op, Message: "bad URL: " + err.Error()}
	}
	var page messageTracePageWire
	err = c.call(ctx, op, func(ctx context.Context) error {
		ri := abstractions.NewRequestInformation()
		ri.Method = abstractions.GET
		ri.SetUri(*u)
		ri.Headers.TryAdd("Accept", "application/json")
		raw, err := c.sdk.Adapter().SendPrimitive(ctx, ri, "[]byte", abstractions.ErrorMappings{
			"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue,
		})
		if err != nil {
			return err
		}
		body, _ := raw.([]byte)
		page = messageTracePageWire{}
		if len(body) == 0 {
			return nil
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("message trace answer is not JSON: %w", err)
		}
		return nil
	})
	return page, err
}

// validSMTP accepts a bare SMTP address that can go into an OData string literal.
func validSMTP(s string) bool {
	if s == "" || len(s) > 320 || strings.ContainsAny(s, "'\"<>()\\ ,;\t\r\n") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Count(s, "@") == 1
}

// escapeQuery encodes an OData query value for a URL (spaces as %20, as Graph writes them).
func escapeQuery(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
