package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestNewValidatesOptions(t *testing.T) {
	cred := &fakeCredential{}
	tests := []struct {
		name     string
		opts     Options
		wantErr  string
		endpoint string
	}{
		{name: "production https", opts: Options{BaseURL: "https://outlook.office365.com/adminapi/beta/", TenantID: testTenant, Credential: cred},
			endpoint: "https://outlook.office365.com/adminapi/beta/" + testTenant + "/InvokeCommand"},
		{name: "tenant as domain", opts: Options{BaseURL: "https://outlook.office365.com/adminapi/beta", TenantID: "contoso.onmicrosoft.com", Credential: cred},
			endpoint: "https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand"},
		{name: "http on loopback is allowed", opts: Options{BaseURL: "http://127.0.0.1:8080/adminapi/beta", TenantID: testTenant, Credential: cred},
			endpoint: "http://127.0.0.1:8080/adminapi/beta/" + testTenant + "/InvokeCommand"},
		{name: "http on localhost is allowed", opts: Options{BaseURL: "http://localhost:1/adminapi/beta", TenantID: testTenant, Credential: cred},
			endpoint: "http://localhost:1/adminapi/beta/" + testTenant + "/InvokeCommand"},
		{name: "http elsewhere is refused", opts: Options{BaseURL: "http://outlook.office365.com/adminapi/beta", TenantID: testTenant, Credential: cred}, wantErr: "plain http"},
		{name: "other scheme", opts: Options{BaseURL: "ftp://example.com/x", TenantID: testTenant, Credential: cred}, wantErr: "https"},
		{name: "relative base", opts: Options{BaseURL: "/adminapi/beta", TenantID: testTenant, Credential: cred}, wantErr: "absolute"},
		{name: "query in base", opts: Options{BaseURL: "https://h.example/x?a=b", TenantID: testTenant, Credential: cred}, wantErr: "query"},
		{name: "no credential", opts: Options{BaseURL: "https://h.example/x", TenantID: testTenant}, wantErr: "credential"},
		{name: "tenant with slash", opts: Options{BaseURL: "https://h.example/x", TenantID: "a/b", Credential: cred}, wantErr: "tenant"},
		{name: "empty tenant", opts: Options{BaseURL: "https://h.example/x", Credential: cred}, wantErr: "tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := c.endpoint.String(); got != tt.endpoint {
				t.Errorf("endpoint = %q, want %q", got, tt.endpoint)
			}
			if c.timeout != defaultTimeout || c.maxRetries != defaultMaxRetries || c.maxRetryWait != defaultMaxRetryWait || c.httpClient.Timeout == 0 {
				t.Errorf("defaults not applied: timeout %v retries %d wait %v client timeout %v", c.timeout, c.maxRetries, c.maxRetryWait, c.httpClient.Timeout)
			}
		})
	}
}

func TestInvokeSendsWhatExchangeExpects(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok(`{"DomainName":"contoso.com"}`, `{"DomainName":"fabrikam.com"}`) })

	items, err := s.client.Invoke(context.Background(), AnchorUser("jdoe@contoso.com"), "Get-Mailbox", map[string]any{"Identity": "jdoe@contoso.com"})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if len(items) != 2 || !strings.Contains(string(items[1]), "fabrikam.com") {
		t.Fatalf("items = %s", items)
	}
	calls := s.fake.recorded()
	if len(calls) != 1 {
		t.Fatalf("calls = %d, want 1", len(calls))
	}
	c := calls[0]
	if c.Path != "/adminapi/beta/"+testTenant+"/InvokeCommand" || c.Anchor != "UPN:jdoe@contoso.com" || c.Cmdlet != "Get-Mailbox" || c.Params["Identity"] != "jdoe@contoso.com" {
		t.Errorf("call = %+v", c)
	}
	if s.cred.calls.Load() != 1 {
		t.Errorf("token requests = %d, want 1 per request", s.cred.calls.Load())
	}
}

func TestInvokeWithoutParametersSendsEmptyObject(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok() })
	items, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-AcceptedDomain", nil)
	if err != nil || len(items) != 0 {
		t.Fatalf("Invoke = %v, %v", items, err)
	}
	if got := s.fake.onlyCall().RawBody; got != `{"CmdletInput":{"CmdletName":"Get-AcceptedDomain","Parameters":{}}}` {
		t.Errorf("body = %s", got)
	}
}

func TestInvokeFollowsNextLinkWithTheSameBody(t *testing.T) {
	var base string
	s := newTestClient(t, func(n int, c call) answer {
		switch n {
		case 1:
			return answer{status: 200, body: `{"value":[{"n":1},{"n":2}],"@odata.nextLink":"` + base + `/` + testTenant + `/InvokeCommand?$skiptoken=p2"}`}
		case 2:
			return answer{status: 200, body: `{"value":[{"n":3}],"@odata.nextLink":"` + base + `/` + testTenant + `/InvokeCommand?$skiptoken=p3"}`}
		default:
			return ok(`{"n":4}`)
		}
	})
	base = s.fake.baseURL()

	items, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-BlockedSenderAddress", map[string]any{})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var got []string
	for _, it := range items {
		got = append(got, string(it))
	}
	if strings.Join(got, ",") != `{"n":1},{"n":2},{"n":3},{"n":4}` {
		t.Errorf("items = %v", got)
	}
	calls := s.fake.recorded()
	if len(calls) != 3 || !strings.HasSuffix(calls[1].Path, "$skiptoken=p2") || !strings.HasSuffix(calls[2].Path, "$skiptoken=p3") {
		t.Fatalf("paths = %+v", calls)
	}
	for _, c := range calls[1:] {
		if c.RawBody != calls[0].RawBody || c.Anchor != calls[0].Anchor {
			t.Errorf("page request differs from the first: %+v vs %+v", c, calls[0])
		}
	}
}

func TestInvokeRefusesUnsafeNextLinks(t *testing.T) {
	tests := []struct {
		name string
		link func(base string) string
	}{
		{name: "another host would receive the token", link: func(string) string { return "https://evil.example/adminapi/beta/x" }},
		{name: "relative link", link: func(string) string { return "/adminapi/beta/x" }},
		{name: "a link to the same page loops", link: func(base string) string { return base + "/" + testTenant + "/InvokeCommand" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base string
			s := newTestClient(t, func(int, call) answer {
				return answer{status: 200, body: `{"value":[{"n":1}],"@odata.nextLink":"` + tt.link(base) + `"}`}
			})
			base = s.fake.baseURL()
			_, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-BlockedSenderAddress", nil)
			e := asError(t, err)
			if e.Code != "InvalidResponse" || !strings.Contains(e.Message, "nextLink") || e.Transient() {
				t.Errorf("error = %+v", e)
			}
			if n := len(s.fake.recorded()); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
}

func TestInvokeRefusesBadArgumentsWithoutCallingExchange(t *testing.T) {
	tests := []struct {
		name   string
		anchor Anchor
		cmdlet string
		params map[string]any
	}{
		{name: "cmdlet is not Verb-Noun", anchor: AnchorApp(testTenant), cmdlet: "Get-Mailbox; Remove-Mailbox"},
		{name: "empty cmdlet", anchor: AnchorApp(testTenant), cmdlet: ""},
		{name: "anchor with header injection", anchor: AnchorUser("a@b.com\r\nX-Evil: 1"), cmdlet: "Get-Mailbox"},
		{name: "anchor without prefix", anchor: Anchor("jdoe@contoso.com"), cmdlet: "Get-Mailbox"},
		{name: "app anchor for another tenant form", anchor: AnchorApp("not a tenant"), cmdlet: "Get-AcceptedDomain"},
		{name: "Mailbox together with Identity", anchor: AnchorUser("jdoe@contoso.com"), cmdlet: "Get-InboxRule",
			params: map[string]any{"Mailbox": "jdoe@contoso.com", "Identity": "jdoe@contoso.com\\1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestClient(t, func(int, call) answer { return ok() })
			_, err := s.client.Invoke(context.Background(), tt.anchor, tt.cmdlet, tt.params)
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("error = %v, want ErrInvalidArgument", err)
			}
			if n := len(s.fake.recorded()); n != 0 || s.cred.calls.Load() != 0 {
				t.Errorf("requests = %d, token requests = %d, want none", n, s.cred.calls.Load())
			}
		})
	}
}

func TestInvokeTreatsMissingValueAsNoItemsAndRejectsGarbage(t *testing.T) {
	tests := []struct {
		name      string
		answer    answer
		wantItems int
		wantCode  string
	}{
		{name: "empty value", answer: ok(), wantItems: 0},
		{name: "no value property", answer: answer{status: 200, body: `{"@odata.context":"x"}`}, wantItems: 0},
		{name: "204 without body", answer: answer{status: 204}, wantItems: 0},
		{name: "HTML instead of JSON", answer: answer{status: 200, body: `<html>maintenance</html>`}, wantCode: "InvalidResponse"},
		{name: "value is an object", answer: answer{status: 200, body: `{"value":{"a":1}}`}, wantCode: "InvalidResponse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestClient(t, func(int, call) answer { return tt.answer })
			items, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Set-Mailbox", map[string]any{"Identity": "a@b.com"})
			if tt.wantCode != "" {
				if e := asError(t, err); e.Code != tt.wantCode {
					t.Fatalf("code = %q, want %q", e.Code, tt.wantCode)
				}
				return
			}
			if err != nil || len(items) != tt.wantItems {
				t.Fatalf("Invoke = %d items, %v", len(items), err)
			}
		})
	}
}

func TestInvokeWrapsErrorsWithContext(t *testing.T) {
	s := newTestClient(t, func(int, call) answer {
		return fail(400, "BadRequest", "A parameter cannot be found that matches parameter name 'Foo'.")
	})
	_, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-Mailbox", map[string]any{"Foo": json.Number("1")})
	e := asError(t, err)
	if !strings.HasPrefix(err.Error(), "exchange.Invoke: Exchange Get-Mailbox answered 400 BadRequest: A parameter cannot be found") {
		t.Errorf("text = %q", err.Error())
	}
	if e.Transient() || len(s.fake.recorded()) != 1 {
		t.Errorf("a 400 must be permanent and not retried: %+v, %d calls", e, len(s.fake.recorded()))
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		fmt.Fprint(w, `{"value":[]}`)
	}))
	defer other.Close()
	s := newTestClient(t, func(int, call) answer {
		return answer{status: http.StatusFound, header: map[string]string{"Location": other.URL + "/steal"}}
	})
	_, err := s.client.Invoke(context.Background(), AnchorApp(testTenant), "Get-AcceptedDomain", nil)
	if e := asError(t, err); e.Status != http.StatusFound || e.Transient() {
		t.Errorf("error = %+v", e)
	}
	if elsewhere.Load() != 0 {
		t.Error("the redirect was followed")
	}
}
