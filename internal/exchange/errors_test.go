package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestErrorFromAnswerPicksTheMostUsefulMessage(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantCode string
		wantMsg  string
		wantType string
	}{
		{name: "details win", status: 404, wantCode: "NotFound",
			body:    `{"error":{"code":"NotFound","message":"generic","details":[{"code":"NotFound","message":"The operation couldn't be performed because object 'x@contoso.com' couldn't be found on 'AM0PR01A001DC01.EURPRD01.PROD.OUTLOOK.COM'.","target":""}],"innererror":{"internalException":{"message":"inner"}}}}`,
			wantMsg: "The operation couldn't be performed because object 'x@contoso.com' couldn't be found on 'AM0PR01A001DC01.EURPRD01.PROD.OUTLOOK.COM'."},
		{name: "several details are joined without repeats", status: 400, wantCode: "BadRequest",
			body:    `{"error":{"code":"BadRequest","message":"m","details":[{"message":"first"},{"message":"second"},{"message":"first"},{"message":"  "}]}}`,
			wantMsg: "first; second"},
		{name: "internal exception when no details", status: 500, wantCode: "InternalServerError",
			body:    `{"error":{"code":"InternalServerError","message":"An error has occurred.","details":[],"innererror":{"message":"x","type":"System.Exception","internalException":{"message":"Mailbox database is offline."}}}}`,
			wantMsg: "Mailbox database is offline.", wantType: "System.Exception"},
		{name: "top-level message last", status: 401, wantCode: "InvalidAuthenticationToken",
			body: `{"error":{"code":"InvalidAuthenticationToken","message":"Access token is empty."}}`, wantMsg: "Access token is empty."},
		{name: "exception type prefix is split off", status: 400, wantCode: "BadRequest",
			body:     `{"error":{"code":"BadRequest","details":[{"message":"|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'r1' couldn't be found."}]}}`,
			wantMsg:  "The operation couldn't be performed because object 'r1' couldn't be found.",
			wantType: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"},
		{name: "HTML gateway page falls back to status text", status: 502, body: "<html><body>Bad Gateway</body></html>", wantMsg: "Bad Gateway"},
		{name: "plain text body is shown", status: 503, body: "Service temporarily unavailable\r\n", wantMsg: "Service temporarily unavailable"},
		{name: "empty body falls back to status text", status: 429, body: "", wantMsg: "Too Many Requests"},
		{name: "control characters are folded", status: 400, wantCode: "BadRequest",
			body: `{"error":{"code":"BadRequest","message":"line one\nline\ttwo\u0000"}}`, wantMsg: "line one line two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := errorFromAnswer("Get-Mailbox", tt.status, []byte(tt.body), 0)
			if e.Status != tt.status || e.Code != tt.wantCode || e.Message != tt.wantMsg || e.Type != tt.wantType {
				t.Errorf("got status %d code %q message %q type %q\nwant code %q message %q type %q", e.Status, e.Code, e.Message, e.Type, tt.wantCode, tt.wantMsg, tt.wantType)
			}
		})
	}
}

func TestLongMessagesAreBounded(t *testing.T) {
	e := errorFromAnswer("Get-Mailbox", 400, []byte(`{"error":{"message":"`+strings.Repeat("x", 5000)+`"}}`), 0)
	if n := len([]rune(e.Message)); n > maxMessageRunes+1 {
		t.Errorf("message has %d runes", n)
	}
}

func TestErrorTextIsWhatAnAnalystReads(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{name: "service answer", err: &Error{Cmdlet: "Remove-InboxRule", Status: 404, Code: "NotFound", Message: "object couldn't be found"},
			want: "Exchange Remove-InboxRule answered 404 NotFound: object couldn't be found"},
		{name: "throttled", err: &Error{Cmdlet: "Get-InboxRule", Status: 429, Code: "TooManyRequests", Message: "slow down", RetryAfter: 2 * time.Minute},
			want: "Exchange Get-InboxRule answered 429 TooManyRequests: slow down (retry after 2m0s)"},
		{name: "no answer", err: &Error{Cmdlet: "Set-Mailbox", Code: "Timeout", Message: "no answer within 30s"},
			want: "Exchange Set-Mailbox: no answer from the service Timeout: no answer within 30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTransientAndNotFound(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		transient     bool
		notFound      bool
		isTransiently bool
	}{
		{name: "network", err: &Error{Status: 0, Code: "NetworkError"}, transient: true, isTransiently: true},
		{name: "408", err: &Error{Status: 408}, transient: true, isTransiently: true},
		{name: "429", err: &Error{Status: 429}, transient: true, isTransiently: true},
		{name: "500", err: &Error{Status: 500}, transient: true, isTransiently: true},
		{name: "503 wrapped", err: fmt.Errorf("exchange.GetMailbox: %w", &Error{Status: 503}), transient: true, isTransiently: true},
		{name: "400", err: &Error{Status: 400}},
		{name: "401", err: &Error{Status: 401}},
		{name: "403", err: &Error{Status: 403}},
		{name: "404", err: &Error{Status: 404}, notFound: true},
		{name: "NotFound code on another status", err: &Error{Status: 400, Code: "NotFound"}, notFound: true},
		{name: "not-found exception type", err: &Error{Status: 400, Type: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"}, notFound: true},
		{name: "wrapped 404", err: fmt.Errorf("exchange.RemoveInboxRule: %w", &Error{Status: 404}), notFound: true},
		{name: "plain error", err: errors.New("boom")},
		{name: "invalid argument", err: fmt.Errorf("x: %w", ErrInvalidArgument)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *Error
			if errors.As(tt.err, &e) && e.Transient() != tt.transient {
				t.Errorf("Transient() = %v, want %v", e.Transient(), tt.transient)
			}
			if got := IsNotFound(tt.err); got != tt.notFound {
				t.Errorf("IsNotFound = %v, want %v", got, tt.notFound)
			}
			if got := IsTransient(tt.err); got != tt.isTransiently {
				t.Errorf("IsTransient = %v, want %v", got, tt.isTransiently)
			}
		})
	}
}

func TestErrorsNeverCarryTheToken(t *testing.T) {
	// The fake echoes nothing of the request; the check is that our own texts (transport
	// errors name the URL, token errors quote azidentity) never hold the Authorization value.
	s := newTestClient(t, func(n int, _ call) answer {
		return fail(401, "InvalidAuthenticationToken", "token rejected")
	})
	_, err := s.client.GetMailbox(context.Background(), "jdoe@contoso.com")
	asError(t, err) // fails the test if the token appears in the text
	s.fake.server.Close()
	_, err = s.client.GetMailbox(context.Background(), "jdoe@contoso.com")
	asError(t, err)
}

// Exchange's cmdlet failures as the service writes them (shapes seen in public captures, see
// docs/simulator-fidelity.md "Exchange error answers"): the useful sentence sits behind an
// "<id>|<exception type>|" prefix in details, the internal exception may be a wrapper that
// says nothing, and innererror.type is always the same OData wrapper.
const (
	realNotFound404   = `{"error":{"code":"NotFound","message":"Error executing cmdlet","details":[{"code":"Client","target":"","message":"Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'jdoe@contoso.com' couldn't be found on 'AM0PR01A001DC01.EURPR01A001.PROD.OUTLOOK.COM'."}],"innererror":{"message":"Error executing cmdlet","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"   at Microsoft.Exchange.AdminApi.CommandInvocation.CommandInvocation.InvokeCommand()","internalexception":{"message":"Exception of type 'Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException' was thrown.","type":"Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException","stacktrace":""}},"adminapi.warnings@odata.type":"#Collection(String)","@adminapi.warnings":[]}}`
	realNotFound400   = `{"error":{"code":"BadRequest","message":"Error executing cmdlet","details":[{"code":"Client","target":"","message":"Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'jdoe@contoso.com\\17354722591129731074' couldn't be found on 'AM0PR01A001DC01.EURPR01A001.PROD.OUTLOOK.COM'."}],"innererror":{"message":"Error executing cmdlet","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"","internalexception":{"message":"Exception of type 'Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException' was thrown.","type":"Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException","stacktrace":""}}}}`
	realBadEnum       = `{"error":{"code":"BadRequest","message":"Invalid Operation","innererror":{"message":"Invalid Operation","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"","internalexception":{"message":"Cannot process argument transformation on parameter 'RecipientTypeDetails'. Cannot convert value \"Nonsense\".","type":"Microsoft.Exchange.AdminApi.CommandInvocation.ParameterTransformationException","stacktrace":""}},"adminapi.warnings@odata.type":"#Collection(String)","@adminapi.warnings":[]}}`
	realBadParameter  = `{"error":{"code":"BadRequest","message":"Invalid Operation","details":[{"code":"Client","target":"","message":"|Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException|Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. Bogus"}],"innererror":{"message":"Invalid Operation","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":"","internalexception":{"message":"Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. Bogus","type":"Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException","stacktrace":""}}}}`
	realServerError   = `{"error":{"code":"InternalServerError","message":"Error executing cmdlet","details":[{"code":"Client","target":"","message":"Ex2C2B4D|Microsoft.Exchange.Data.Storage.MailboxOfflineException|The mailbox database is temporarily unavailable."}],"innererror":{"message":"Error executing cmdlet","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":""}}}`
	realNoPermissions = `{"error":{"code":"NotFound","message":"No permissions were found for the user:amy@contoso.com","innererror":{"message":"No permissions were found for the user:amy@contoso.com","type":"Microsoft.Exchange.Admin.OData.Core.ODataServiceException","stacktrace":""}}}`
)

func TestErrorFromAnswerReadsExchangesRealShapes(t *testing.T) {
	tests := []struct {
		name               string
		status             int
		body               string
		wantCode, wantType string
		wantID, wantMsg    string
		notFound           bool
		transient          bool
	}{
		{name: "not found as 404", status: 404, body: realNotFound404, wantCode: "NotFound", notFound: true,
			wantType: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", wantID: "Ex6F9304",
			wantMsg: "The operation couldn't be performed because object 'jdoe@contoso.com' couldn't be found on 'AM0PR01A001DC01.EURPR01A001.PROD.OUTLOOK.COM'."},
		{name: "not found as 400", status: 400, body: realNotFound400, wantCode: "BadRequest", notFound: true,
			wantType: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", wantID: "Ex6F9304",
			wantMsg: `The operation couldn't be performed because object 'jdoe@contoso.com\17354722591129731074' couldn't be found on 'AM0PR01A001DC01.EURPR01A001.PROD.OUTLOOK.COM'.`},
		{name: "text only in the internal exception", status: 400, body: realBadEnum, wantCode: "BadRequest",
			wantType: "Microsoft.Exchange.AdminApi.CommandInvocation.ParameterTransformationException",
			wantMsg:  `Cannot process argument transformation on parameter 'RecipientTypeDetails'. Cannot convert value "Nonsense".`},
		{name: "empty id before the type", status: 400, body: realBadParameter, wantCode: "BadRequest",
			wantType: "Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException",
			wantMsg:  "Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. Bogus"},
		{name: "server error keeps its type", status: 500, body: realServerError, wantCode: "InternalServerError", transient: true,
			wantType: "Microsoft.Exchange.Data.Storage.MailboxOfflineException", wantID: "Ex2C2B4D",
			wantMsg: "The mailbox database is temporarily unavailable."},
		{name: "NotFound without details", status: 404, body: realNoPermissions, wantCode: "NotFound", notFound: true,
			wantType: "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
			wantMsg:  "No permissions were found for the user:amy@contoso.com"},
		{name: "odd JSON types in fields not needed", status: 400, wantCode: "BadRequest", notFound: true,
			body:     `{"error":{"code":"BadRequest","message":{"lang":"en"},"details":{"code":7,"message":"Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|Rule couldn't be found."},"innererror":"oops","@adminapi.warnings":{}}}`,
			wantType: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", wantID: "Ex6F9304", wantMsg: "Rule couldn't be found."},
		{name: "a pipe in a sentence is not a prefix", status: 400, wantCode: "BadRequest",
			body: `{"error":{"code":"BadRequest","details":[{"message":"Value a|b|c is not valid."}]}}`, wantMsg: "Value a|b|c is not valid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := errorFromAnswer("Disable-InboxRule", tt.status, []byte(tt.body), 0)
			if e.Code != tt.wantCode || e.Type != tt.wantType || e.ErrorID != tt.wantID || e.Message != tt.wantMsg {
				t.Errorf("got code %q type %q id %q message %q\nwant code %q type %q id %q message %q",
					e.Code, e.Type, e.ErrorID, e.Message, tt.wantCode, tt.wantType, tt.wantID, tt.wantMsg)
			}
			if IsNotFound(e) != tt.notFound || e.Transient() != tt.transient {
				t.Errorf("IsNotFound %v Transient %v, want %v %v", IsNotFound(e), e.Transient(), tt.notFound, tt.transient)
			}
			if strings.Contains(e.Error(), "Exception|") || strings.Contains(e.Error(), "Ex6F9304") {
				t.Errorf("Error() = %q still carries the id|type| prefix", e.Error())
			}
		})
	}
}

func TestSplitExceptionPrefix(t *testing.T) {
	tests := []struct{ in, id, typ, rest string }{
		{in: "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|text", id: "Ex6F9304", typ: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", rest: "text"},
		{in: "|System.ArgumentException|text | with pipe", typ: "System.ArgumentException", rest: "text | with pipe"},
		{in: "no prefix at all", rest: "no prefix at all"},
		{in: "a|b|c", rest: "a|b|c"},
		{in: "Ex1|Not A Type|text", rest: "Ex1|Not A Type|text"},
		{in: "with space|System.Exception|text", rest: "with space|System.Exception|text"},
	}
	for _, tt := range tests {
		id, typ, rest := splitExceptionPrefix(tt.in)
		if id != tt.id || typ != tt.typ || rest != tt.rest {
			t.Errorf("splitExceptionPrefix(%q) = %q %q %q, want %q %q %q", tt.in, id, typ, rest, tt.id, tt.typ, tt.rest)
		}
	}
}

func TestNotFoundIsNotClaimedWithoutAnAnswer(t *testing.T) {
	// A transport failure whose text happens to mention "couldn't be found" (a DNS error)
	// is not the service saying the object is gone.
	if IsNotFound(&Error{Status: 0, Code: "NetworkError", Message: "host couldn't be found"}) {
		t.Error("a status-0 failure was taken for not-found")
	}
	if !IsNotFound(&Error{Status: 400, Code: "Client", Message: "The operation couldn't be performed because object 'x' couldn't be found on 'y'."}) {
		t.Error("the couldn't-be-found sentence on a 400 was not recognised")
	}
}
