package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const upn = "jdoe@contoso.com"

func TestGetMailbox(t *testing.T) {
	tests := []struct {
		name      string
		answer    answer
		want      Mailbox
		notFound  bool
		wantCode  string
		forwarded bool
	}{
		{name: "forwarding to an external address", forwarded: true,
			answer: ok(`{"Identity":"jdoe","Name":"jdoe","UserPrincipalName":"jdoe@contoso.com","PrimarySmtpAddress":"jdoe@contoso.com","ForwardingAddress":null,"ForwardingSmtpAddress":"smtp:attacker@evil.example","DeliverToMailboxAndForward":true,"RecipientTypeDetails":"UserMailbox"}`),
			want:   Mailbox{Identity: "jdoe", UserPrincipalName: upn, PrimarySmtpAddress: upn, ForwardingSmtpAddress: "smtp:attacker@evil.example", DeliverToMailboxAndForward: true}},
		{name: "no forwarding, nulls everywhere",
			answer: ok(`{"Identity":"jdoe","UserPrincipalName":"jdoe@contoso.com","PrimarySmtpAddress":null,"ForwardingAddress":null,"ForwardingSmtpAddress":null,"DeliverToMailboxAndForward":null}`),
			want:   Mailbox{Identity: "jdoe", UserPrincipalName: upn}},
		{name: "internal ForwardingAddress counts as forwarding", forwarded: true,
			answer: ok(`{"Identity":"jdoe","ForwardingAddress":"Jane Roe","DeliverToMailboxAndForward":false}`),
			want:   Mailbox{Identity: "jdoe", ForwardingAddress: "Jane Roe"}},
		{name: "404 answer", answer: fail(404, "NotFound", "The operation couldn't be performed because object 'jdoe@contoso.com' couldn't be found on 'X'."), notFound: true, wantCode: "NotFound"},
		{name: "empty result", answer: ok(), notFound: true, wantCode: "NotFound"},
		{name: "two results", answer: ok(`{"Identity":"a"}`, `{"Identity":"b"}`), wantCode: "Ambiguous"},
		{name: "item is not an object", answer: ok(`"jdoe"`), wantCode: "InvalidResponse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestClient(t, func(int, call) answer { return tt.answer })
			got, err := s.client.GetMailbox(context.Background(), upn)
			c := s.fake.onlyCall()
			if c.Cmdlet != "Get-Mailbox" || c.Anchor != "UPN:"+upn || !reflect.DeepEqual(c.Params, map[string]any{"Identity": upn}) {
				t.Errorf("call = %+v", c)
			}
			if tt.wantCode != "" {
				e := asError(t, err)
				if e.Code != tt.wantCode || IsNotFound(err) != tt.notFound || !strings.HasPrefix(err.Error(), "exchange.GetMailbox: ") {
					t.Errorf("error = %v (code %q), IsNotFound %v", err, e.Code, IsNotFound(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("GetMailbox: %v", err)
			}
			if got.Raw == nil || got.Raw["Identity"] == nil {
				t.Errorf("Raw = %v, want the item", got.Raw)
			}
			got.Raw = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mailbox = %+v\nwant      %+v", got, tt.want)
			}
			if got.HasForwarding() != tt.forwarded {
				t.Errorf("HasForwarding = %v, want %v", got.HasForwarding(), tt.forwarded)
			}
		})
	}
}

func TestClearForwardingClearsBothAddresses(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok() })
	if err := s.client.ClearForwarding(context.Background(), upn); err != nil {
		t.Fatalf("ClearForwarding: %v", err)
	}
	c := s.fake.onlyCall()
	want := map[string]any{"Identity": upn, "ForwardingSmtpAddress": nil, "ForwardingAddress": nil, "DeliverToMailboxAndForward": false}
	if c.Cmdlet != "Set-Mailbox" || c.Anchor != "UPN:"+upn || !reflect.DeepEqual(c.Params, want) {
		t.Errorf("call = %+v", c)
	}
	// Explicit nulls, not missing keys: a missing key would leave the forwarding in place.
	for _, key := range []string{`"ForwardingSmtpAddress":null`, `"ForwardingAddress":null`, `"DeliverToMailboxAndForward":false`} {
		if !strings.Contains(c.RawBody, key) {
			t.Errorf("body %s lacks %s", c.RawBody, key)
		}
	}
}

func TestHelpersRefuseUnsafeAddresses(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok() })
	ctx := context.Background()
	bad := []string{"", "jdoe", `jd"oe@contoso.com`, `jd\oe@contoso.com`, "jdoe@contoso.com\n", "jdoe@contoso", "jdoe@@contoso.com", "jdoe @contoso.com"}
	for _, addr := range bad {
		calls := map[string]error{}
		_, calls["GetMailbox"] = s.client.GetMailbox(ctx, addr)
		calls["ClearForwarding"] = s.client.ClearForwarding(ctx, addr)
		_, calls["InboxRules"] = s.client.InboxRules(ctx, addr)
		calls["DisableInboxRule"] = s.client.DisableInboxRule(ctx, addr, "1")
		calls["RemoveInboxRule"] = s.client.RemoveInboxRule(ctx, addr, "1")
		calls["RemoveBlockedSender"] = s.client.RemoveBlockedSender(ctx, addr)
		if addr != "" {
			_, calls["BlockedSenders"] = s.client.BlockedSenders(ctx, addr)
		}
		for name, err := range calls {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%s(%q) error = %v, want ErrInvalidArgument", name, addr, err)
			}
		}
	}
	if n := len(s.fake.recorded()); n != 0 {
		t.Errorf("%d requests reached Exchange", n)
	}
}

// inboxRulesFake answers Get-InboxRule with visible rules, plus hidden ones when
// -IncludeHidden is set, like Exchange does.
func inboxRulesFake(t *testing.T, visible, hidden []string) func(int, call) answer {
	return func(_ int, c call) answer {
		if c.Cmdlet != "Get-InboxRule" {
			t.Errorf("unexpected cmdlet %s", c.Cmdlet)
			return fail(400, "BadRequest", "unexpected")
		}
		if _, ok := c.Params["Identity"]; ok || c.Params["Mailbox"] != upn {
			t.Errorf("Get-InboxRule must name the mailbox with Mailbox only: %v", c.Params)
		}
		items := append([]string(nil), visible...)
		if c.Params["IncludeHidden"] == true {
			items = append(hidden, items...)
		}
		return ok(items...)
	}
}

func TestInboxRulesMarksHiddenRulesAndDecodesEveryShape(t *testing.T) {
	const forwarding = `{"Identity":"jdoe@contoso.com\\18446744073709551615","RuleIdentity":18446744073709551615,"Name":".","Enabled":true,"Priority":1,
		"Description":"If the message: ...","ForwardTo":["\"Mallory\" [SMTP:mallory@evil.example]"],"RedirectTo":null,"ForwardAsAttachmentTo":null,
		"DeleteMessage":false,"MarkAsRead":true,"MoveToFolder":"jdoe:\\RSS Feeds","SubjectContainsWords":["invoice","wire transfer"],
		"BodyContainsWords":null,"SubjectOrBodyContainsWords":null,"FromAddressContainsWords":null,"SendTextMessageNotificationTo":[],
		"StopProcessingRules":true,"MailboxOwnerId":"jdoe"}`
	const junk = `{"Identity":"jdoe@contoso.com\\1","RuleIdentity":"1","Name":"Junk E-Mail Rule","Enabled":true,"Priority":"2","ForwardTo":null,"MoveToFolder":null}`
	const newsletters = `{"Identity":"jdoe@contoso.com\\9007199254740993","RuleIdentity":"9007199254740993","Name":"Newsletters","Enabled":false,"Priority":3,"MoveToFolder":"jdoe:\\Newsletters","FromAddressContainsWords":"news@contoso.com"}`

	s := newTestClient(t, inboxRulesFake(t, []string{newsletters}, []string{forwarding, junk}))
	rules, err := s.client.InboxRules(context.Background(), upn)
	if err != nil {
		t.Fatalf("InboxRules: %v", err)
	}
	calls := s.fake.recorded()
	if len(calls) != 2 {
		t.Fatalf("calls = %d, want the two listings", len(calls))
	}
	if len(rules) != 3 {
		t.Fatalf("rules = %+v", rules)
	}
	for i := range rules {
		if rules[i].Raw == nil {
			t.Errorf("rule %d has no Raw", i)
		}
		rules[i].Raw = nil
	}
	want := []InboxRule{
		{Identity: `jdoe@contoso.com\18446744073709551615`, RuleIdentity: "18446744073709551615", Name: ".", Description: "If the message: ...",
			MoveToFolder: `jdoe:\RSS Feeds`, Enabled: true, MarkAsRead: true, StopProcessingRules: true, Hidden: true, Priority: 1,
			ForwardTo: []string{`"Mallory" [SMTP:mallory@evil.example]`}, SubjectContainsWords: []string{"invoice", "wire transfer"}},
		{Identity: `jdoe@contoso.com\1`, RuleIdentity: "1", Name: "Junk E-Mail Rule", Enabled: true, Hidden: true, Priority: 2},
		{Identity: `jdoe@contoso.com\9007199254740993`, RuleIdentity: "9007199254740993", Name: "Newsletters", Priority: 3,
			MoveToFolder: `jdoe:\Newsletters`, FromAddressContainsWords: []string{"news@contoso.com"}},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("rules =\n%+v\nwant\n%+v", rules, want)
	}
}

func TestInboxRulesRawKeepsBigNumbersExact(t *testing.T) {
	s := newTestClient(t, inboxRulesFake(t, nil, []string{`{"Identity":"jdoe@contoso.com\\18446744073709551615","RuleIdentity":18446744073709551615,"Name":"x"}`}))
	rules, err := s.client.InboxRules(context.Background(), upn)
	if err != nil {
		t.Fatalf("InboxRules: %v", err)
	}
	if got, _ := json.Marshal(rules[0].Raw["RuleIdentity"]); string(got) != "18446744073709551615" {
		t.Errorf("Raw RuleIdentity re-encodes as %s", got)
	}
}

func TestInboxRulesAppendsRulesOnlyTheVisibleListingHas(t *testing.T) {
	var mu sync.Mutex
	s := newTestClient(t, func(_ int, c call) answer {
		mu.Lock()
		defer mu.Unlock()
		if c.Params["IncludeHidden"] == true {
			return ok(`{"Identity":"jdoe@contoso.com\\1","RuleIdentity":1,"Name":"a"}`)
		}
		return ok(`{"Identity":"jdoe@contoso.com\\1","RuleIdentity":1,"Name":"a"}`, `{"Identity":"jdoe@contoso.com\\2","RuleIdentity":2,"Name":"created meanwhile"}`)
	})
	rules, err := s.client.InboxRules(context.Background(), upn)
	if err != nil {
		t.Fatalf("InboxRules: %v", err)
	}
	if len(rules) != 2 || rules[0].Hidden || rules[1].Hidden || rules[1].Name != "created meanwhile" {
		t.Errorf("rules = %+v", rules)
	}
}

func TestInboxRulesFailsWhenEitherListingFails(t *testing.T) {
	for _, failHidden := range []bool{true, false} {
		s := newTestClient(t, func(_ int, c call) answer {
			if (c.Params["IncludeHidden"] == true) == failHidden {
				return fail(403, "Forbidden", "The user isn't assigned to any management roles.")
			}
			return ok()
		})
		_, err := s.client.InboxRules(context.Background(), upn)
		e := asError(t, err)
		if e.Status != 403 || !strings.Contains(err.Error(), "management roles") || !strings.HasPrefix(err.Error(), "exchange.InboxRules: ") {
			t.Errorf("failHidden=%v: error = %v", failHidden, err)
		}
	}
}

func TestInboxRulesKeepsTheListingWhenOnePropertyIsOdd(t *testing.T) {
	// Each rule carries one property of an unexpected type. None of them may cost the listing:
	// the odd value is left out (RuleIdentity that went through a float is never guessed),
	// named in Unreadable, and kept as sent in Raw.
	odd := []string{
		`{"Identity":"jdoe@contoso.com\\1","RuleIdentity":1.8446744073709552e19,"Name":"float id","Enabled":true}`,
		`{"Identity":"jdoe@contoso.com\\2","RuleIdentity":"2","Name":42,"Enabled":true}`,
		`{"Identity":"jdoe@contoso.com\\3","RuleIdentity":"3","Name":"object forward","Enabled":true,"ForwardTo":{"Name":"Eve","Address":"eve@evil.example"}}`,
		`{"Identity":"jdoe@contoso.com\\4","RuleIdentity":"4","Name":"odd priority","Enabled":true,"Priority":{"value":1},"Description":["a","b"]}`,
		`{"Identity":"jdoe@contoso.com\\5","RuleIdentity":"5","Name":"odd enabled","Enabled":"sometimes","DeleteMessage":true}`,
	}
	s := newTestClient(t, inboxRulesFake(t, odd, nil))
	rules, err := s.client.InboxRules(context.Background(), upn)
	if err != nil {
		t.Fatalf("InboxRules: %v", err)
	}
	if len(rules) != len(odd) {
		t.Fatalf("%d rules, want %d", len(rules), len(odd))
	}
	want := []struct {
		ruleID, name string
		unreadable   []string
		forwardTo    []string
		enabled      bool
	}{
		{ruleID: "", name: "float id", unreadable: []string{"RuleIdentity"}, enabled: true},
		{ruleID: "2", name: "42", enabled: true},
		{ruleID: "3", name: "object forward", forwardTo: []string{"eve@evil.example", "Eve"}, enabled: true},
		{ruleID: "4", name: "odd priority", unreadable: []string{"Description", "Priority"}, enabled: true},
		{ruleID: "5", name: "odd enabled", unreadable: []string{"Enabled"}, enabled: true},
	}
	for i, w := range want {
		r := rules[i]
		slices.Sort(r.Unreadable)
		if r.RuleIdentity != w.ruleID || r.Name != w.name || !slices.Equal(r.Unreadable, w.unreadable) ||
			!slices.Equal(r.ForwardTo, w.forwardTo) || r.Enabled != w.enabled || r.Identity == "" || r.Raw == nil {
			t.Errorf("rule %d = %+v\nwant %+v", i, r, w)
		}
	}
	if rules[0].Raw["RuleIdentity"] == nil || !rules[4].DeleteMessage {
		t.Errorf("raw or neighbouring properties lost: %+v", rules[0].Raw)
	}
}

func TestRuleActionsAddressTheRuleInsideTheNamedMailbox(t *testing.T) {
	tests := []struct {
		name         string
		identity     string
		wantIdentity string
		wantErr      bool
	}{
		{name: "identity as listed", identity: `jdoe@contoso.com\18446744073709551615`, wantIdentity: `jdoe@contoso.com\18446744073709551615`},
		{name: "identity with different case", identity: `JDoe@Contoso.com\42`, wantIdentity: `JDoe@Contoso.com\42`},
		{name: "alias prefix is sent as listed", identity: `John Doe\42`, wantIdentity: `John Doe\42`},
		{name: "bare rule id", identity: `42`, wantIdentity: `jdoe@contoso.com\42`},
		{name: "another mailbox is refused", identity: `ceo@contoso.com\42`, wantErr: true},
		{name: "non-numeric rule id", identity: `jdoe@contoso.com\Forward all`, wantErr: true},
		{name: "id with a space", identity: `jdoe@contoso.com\1 2`, wantErr: true},
		{name: "empty prefix", identity: `\42`, wantErr: true},
		{name: "quote in prefix", identity: `jd"oe\42`, wantErr: true},
		{name: "double backslash", identity: `jdoe@contoso.com\\42`, wantErr: true},
		{name: "control character", identity: "jdoe\n\\42", wantErr: true},
		{name: "empty", identity: ``, wantErr: true},
	}
	actions := map[string]func(c *Client, ctx context.Context, upn, id string) error{
		"Disable-InboxRule": (*Client).DisableInboxRule,
		"Remove-InboxRule":  (*Client).RemoveInboxRule,
	}
	for cmdlet, action := range actions {
		for _, tt := range tests {
			t.Run(cmdlet+"/"+tt.name, func(t *testing.T) {
				s := newTestClient(t, func(int, call) answer { return ok() })
				err := action(s.client, context.Background(), upn, tt.identity)
				calls := s.fake.recorded()
				if tt.wantErr {
					if !errors.Is(err, ErrInvalidArgument) || len(calls) != 0 {
						t.Fatalf("error = %v, calls = %d; want ErrInvalidArgument and no call", err, len(calls))
					}
					return
				}
				if err != nil {
					t.Fatalf("%s: %v", cmdlet, err)
				}
				want := map[string]any{"Identity": tt.wantIdentity, "Confirm": false}
				if len(calls) != 1 || calls[0].Cmdlet != cmdlet || calls[0].Anchor != "UPN:"+upn || !reflect.DeepEqual(calls[0].Params, want) {
					t.Errorf("calls = %+v, want params %v", calls, want)
				}
			})
		}
	}
}

func TestRemoveInboxRuleNotFoundIsRecognisable(t *testing.T) {
	s := newTestClient(t, func(int, call) answer {
		return fail(404, "NotFound", "The operation couldn't be performed because object 'jdoe@contoso.com\\42' couldn't be found on 'X'.")
	})
	err := s.client.RemoveInboxRule(context.Background(), upn, `jdoe@contoso.com\42`)
	if !IsNotFound(err) || !strings.HasPrefix(err.Error(), "exchange.RemoveInboxRule: Exchange Remove-InboxRule answered 404 NotFound: The operation couldn't be performed") {
		t.Errorf("error = %v", err)
	}
}

func TestBlockedSenders(t *testing.T) {
	s := newTestClient(t, func(int, call) answer {
		return ok(
			`{"SenderAddress":"jdoe@contoso.com","CreatedDatetime":"2025-03-04T05:06:07.1234567Z","ChangedDatetime":"2025-03-04T05:06:07Z","Reason":"OutboundSpamLastHour","Identity":"x"}`,
			`{"SenderAddress":"amy@contoso.com","CreatedDatetime":"2025-03-04T07:06:07+02:00","Reason":null}`,
		)
	})
	ctx := context.Background()

	all, err := s.client.BlockedSenders(ctx, "")
	if err != nil {
		t.Fatalf("BlockedSenders: %v", err)
	}
	if _, err := s.client.BlockedSenders(ctx, upn); err != nil {
		t.Fatalf("BlockedSenders(upn): %v", err)
	}
	calls := s.fake.recorded()
	tenantAnchor := string(AnchorApp(testTenant))
	if calls[0].Cmdlet != "Get-BlockedSenderAddress" || calls[0].Anchor != tenantAnchor || len(calls[0].Params) != 0 {
		t.Errorf("list-all call = %+v", calls[0])
	}
	if calls[1].Anchor != tenantAnchor || !reflect.DeepEqual(calls[1].Params, map[string]any{"SenderAddress": upn}) {
		t.Errorf("one-sender call = %+v", calls[1])
	}
	if len(all) != 2 || all[0].SenderAddress != upn || all[0].Reason != "OutboundSpamLastHour" || all[0].Raw["Identity"] != "x" {
		t.Fatalf("senders = %+v", all)
	}
	if want := time.Date(2025, 3, 4, 5, 6, 7, 123456700, time.UTC); !all[0].CreatedDatetime.Equal(want) || all[0].CreatedDatetime.Location() != time.UTC {
		t.Errorf("created = %v, want %v", all[0].CreatedDatetime, want)
	}
	if want := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC); !all[1].CreatedDatetime.Equal(want) || all[1].Reason != "" {
		t.Errorf("second = %+v", all[1])
	}
}

func TestBlockedSendersRefusesAnUnreadableCreationTime(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok(`{"SenderAddress":"a@contoso.com","CreatedDatetime":"yesterday"}`) })
	_, err := s.client.BlockedSenders(context.Background(), "")
	if e := asError(t, err); e.Code != "InvalidResponse" || !strings.Contains(e.Message, "yesterday") {
		t.Errorf("error = %v", err)
	}
}

func TestRemoveBlockedSenderSendsTheAddressOnly(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok() })
	if err := s.client.RemoveBlockedSender(context.Background(), upn); err != nil {
		t.Fatalf("RemoveBlockedSender: %v", err)
	}
	c := s.fake.onlyCall()
	want := map[string]any{"SenderAddress": upn}
	if c.Cmdlet != "Remove-BlockedSenderAddress" || c.Anchor != string(AnchorApp(testTenant)) || !reflect.DeepEqual(c.Params, want) {
		t.Errorf("call = %+v, want params %v", c, want)
	}
}

func TestAcceptedDomains(t *testing.T) {
	s := newTestClient(t, func(int, call) answer {
		return ok(`{"DomainName":"contoso.com","DomainType":"Authoritative","Default":true}`,
			`{"DomainName":"contoso.onmicrosoft.com","DomainType":"Authoritative","Default":false}`,
			`{"DomainName":"fabrikam.com","DomainType":"InternalRelay","Default":null}`)
	})
	got, err := s.client.AcceptedDomains(context.Background())
	if err != nil {
		t.Fatalf("AcceptedDomains: %v", err)
	}
	want := []AcceptedDomain{{"contoso.com", "Authoritative", true}, {"contoso.onmicrosoft.com", "Authoritative", false}, {"fabrikam.com", "InternalRelay", false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("domains = %+v", got)
	}
	c := s.fake.onlyCall()
	if c.Cmdlet != "Get-AcceptedDomain" || c.Anchor != string(AnchorApp(testTenant)) || len(c.Params) != 0 {
		t.Errorf("call = %+v", c)
	}
}

func TestInboxRulesHonoursAnIsHiddenProperty(t *testing.T) {
	// A service that lists hidden rules in both listings but marks them is understood too.
	marked := `{"Identity":"jdoe@contoso.com\\7","RuleIdentity":"7","Name":"x","IsHidden":true}`
	s := newTestClient(t, inboxRulesFake(t, []string{marked}, nil))
	rules, err := s.client.InboxRules(context.Background(), upn)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || !rules[0].Hidden {
		t.Fatalf("rules %+v", rules)
	}
}
