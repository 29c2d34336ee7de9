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
