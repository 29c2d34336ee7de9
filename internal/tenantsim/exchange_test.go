package tenantsim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExchangeGetAndSetMailbox(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	e := newExo(t, sim)

	status, body := e.call("Get-Mailbox", map[string]any{"Identity": demo.UPN})
	if status != 200 {
		t.Fatalf("Get-Mailbox: %d %v", status, body)
	}
	mb := body["value"].([]any)[0].(map[string]any)
	want := map[string]any{
		"UserPrincipalName": demo.UPN, "ExternalDirectoryObjectId": demo.UserID, "ForwardingSmtpAddress": "smtp:exfil@evil.example",
		"ForwardingAddress": nil, "DeliverToMailboxAndForward": true, "RecipientTypeDetails": "UserMailbox",
	}
	for k, v := range want {
		if got, ok := mb[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}

	// Point forwarding at an internal mailbox too, then clear everything with JSON nulls.
	if status, body := e.call("Set-Mailbox", map[string]any{"Identity": demo.UPN, "ForwardingAddress": demo.AssistantUPN}); status != 200 {
		t.Fatalf("Set-Mailbox ForwardingAddress: %d %v", status, body)
	}
	if got := sim.Mailbox(demo.UPN).ForwardingAddress; got != "lee.gu" {
		t.Errorf("ForwardingAddress = %q, want the recipient's identity lee.gu", got)
	}
	status, body = e.call("Set-Mailbox", map[string]any{
		"Identity": demo.UPN, "ForwardingSmtpAddress": nil, "ForwardingAddress": nil, "DeliverToMailboxAndForward": false,
	})
	if status != 200 || len(body["value"].([]any)) != 0 {
		t.Fatalf("Set-Mailbox: %d %v", status, body)
	}
	if got := sim.Mailbox(demo.UPN); got.ForwardingSmtpAddress != "" || got.ForwardingAddress != "" || got.DeliverToMailboxAndForward {
		t.Errorf("mailbox after clearing = %+v", got)
	}

	tests := []struct {
		name   string
		cmdlet string
		params map[string]any
		status int
		code   string
		detail string
	}{
		{"unknown mailbox", "Get-Mailbox", map[string]any{"Identity": "ghost@contoso.example"}, 404, "NotFound",
			"The operation couldn't be performed because object 'ghost@contoso.example' couldn't be found on '" + exchangeServer + "'."},
		{"unknown parameter", "Set-Mailbox", map[string]any{"Identity": demo.UPN, "ForwardTo": "x"}, 400, "BadRequest",
			"A parameter cannot be found that matches parameter name 'ForwardTo'."},
		{"missing identity", "Set-Mailbox", map[string]any{"ForwardingSmtpAddress": nil}, 400, "BadRequest",
			"Cannot process command because of one or more missing mandatory parameters: Identity."},
		{"bad bool", "Set-Mailbox", map[string]any{"Identity": demo.UPN, "DeliverToMailboxAndForward": "maybe"}, 400, "BadRequest", ""},
		{"unknown cmdlet", "Get-MailContact", nil, 400, "BadRequest", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.call(tc.cmdlet, tc.params)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			// Real cmdlet failures: "<id>|<exception type>|<text>" in details; the internal
			// exception repeats the text, or names only the wrapper for exceptions the
			// cmdlet itself raised (not found).
			code, detail, internal := exoErrorParts(t, body)
			prefix, text, ok := cutExceptionPrefix(detail)
			if code != tc.code || !ok || (internal != text && !strings.HasPrefix(internal, "Exception of type '")) {
				t.Errorf("code %s, details %q, internalexception %q", code, detail, internal)
			}
			if tc.detail != "" && text != tc.detail {
				t.Errorf("detail text = %q, want %q", text, tc.detail)
			}
			if tc.status == 404 && prefix != "Ex6F9304|"+managementObjectNotFound {
				t.Errorf("not-found prefix = %q", prefix)
			}
		})
	}
}

func TestExchangeInboxRulesHiddenAndPaging(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	e := newExo(t, sim)

	visible, pages := e.all("Get-InboxRule", map[string]any{"Mailbox": demo.UPN})
	if len(visible) != 9 || pages != 5 {
		t.Errorf("without IncludeHidden: %d rules on %d pages, want 9 on 5", len(visible), pages)
	}
	all, pages := e.all("Get-InboxRule", map[string]any{"Mailbox": demo.UPN, "IncludeHidden": true})
	if len(all) != 12 || pages != 6 {
		t.Errorf("with IncludeHidden: %d rules on %d pages, want 12 on 6", len(all), pages)
	}
	hidden := slices.DeleteFunc(names(all, "Name"), func(n string) bool { return slices.Contains(names(visible, "Name"), n) })
	slices.Sort(hidden)
	if want := []string{"Clean up", "Junk E-Mail Rule", "Microsoft.Exchange.OOF.KnownSenders"}; !slices.Equal(hidden, want) {
		t.Errorf("hidden rules = %v, want %v", hidden, want)
	}
	for i, r := range all {
		if r["Priority"] != float64(i+1) {
			t.Errorf("rule %v has priority %v, want %d", r["Name"], r["Priority"], i+1)
		}
		if id := r["Identity"].(string); id != demo.UPN+`\`+r["RuleIdentity"].(string) {
			t.Errorf("Identity %q is not <upn>\\<RuleIdentity>", id)
		}
		if _, hasHidden := r["Hidden"]; hasHidden {
			t.Error("the wire shape must not mark hidden rules")
		}
	}
	byName := map[string]map[string]any{}
	for _, r := range all {
		byName[r["Name"].(string)] = r
	}
	if fwd := byName["Sync"]["ForwardTo"].([]any); len(fwd) != 1 || fwd[0] != `"exfil" [SMTP:exfil@evil.example]` {
		t.Errorf("Sync ForwardTo = %v", fwd)
	}
	if byName["."]["MoveToFolder"] != `adele.vance:\RSS Feeds` || byName["."]["MarkAsRead"] != true {
		t.Errorf(". rule = %v", byName["."])
	}
	if byName["Sync"]["MoveToFolder"] != nil || byName["Sync"]["RedirectTo"] != nil {
		t.Errorf("absent values must be null: %v", byName["Sync"])
	}
	if d, _ := byName["Clean up"]["Description"].(string); !strings.Contains(d, "delete the message") {
		t.Errorf("description = %q", d)
	}

	// A smaller Prefer: odata.maxpagesize wins over the simulator's page size.
	req, _ := http.NewRequest(http.MethodPost, e.endpoint(), strings.NewReader(string(invokeBody("Get-InboxRule", map[string]any{"Mailbox": demo.UPN}))))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Prefer", "odata.maxpagesize=1")
	if _, _, body := do(t, req); len(body["value"].([]any)) != 1 || body["@odata.nextLink"] == nil {
		t.Errorf("maxpagesize=1 page = %v", body)
	}
}

func TestExchangeRuleIdentityForms(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	e := newExo(t, sim)
	rules := sim.InboxRules(demo.UPN)
	ruleByName := func(name string) InboxRule {
		for _, r := range sim.InboxRules(demo.UPN) {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("no rule %q", name)
		return InboxRule{}
	}

	tests := []struct {
		name   string
		cmdlet string
		params map[string]any
		rule   string
	}{
		{"identity upn\\RuleIdentity on a hidden rule", "Disable-InboxRule", map[string]any{"Identity": rules[3].Identity, "Confirm": false}, "Clean up"},
		{"identity upn\\Name", "Disable-InboxRule", map[string]any{"Identity": demo.UPN + `\.`, "Confirm": false}, "."},
		{"bare name with Mailbox", "Disable-InboxRule", map[string]any{"Identity": "Sync", "Mailbox": demo.UPN}, "Sync"},
		{"alias\\RuleIdentity", "Disable-InboxRule", map[string]any{"Identity": `adele.vance\` + ruleByName("Accounts").RuleIdentity}, "Accounts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := e.call(tc.cmdlet, tc.params); status != 200 {
				t.Fatalf("status %d %v", status, body)
			}
			if ruleByName(tc.rule).Enabled {
				t.Errorf("rule %q still enabled", tc.rule)
			}
		})
	}

	if status, body := e.call("Remove-InboxRule", map[string]any{"Identity": ruleByName("Sync").Identity, "Confirm": false}); status != 200 {
		t.Fatalf("Remove-InboxRule: %d %v", status, body)
	}
	after := sim.InboxRules(demo.UPN)
	if len(after) != 11 || slices.Contains(names(rulesAsMaps(after), "Name"), "Sync") {
		t.Errorf("rules after removal: %v", names(rulesAsMaps(after), "Name"))
	}
	for i, r := range after {
		if r.Priority != i+1 {
			t.Errorf("priority of %q = %d after removal, want %d", r.Name, r.Priority, i+1)
		}
	}

	// Two rules with one name make a name ambiguous.
	sim.AddInboxRule(demo.UPN, InboxRule{Name: "Newsletters", Enabled: true, MoveToFolder: `adele.vance:\Other`})
	errs := []struct {
		name   string
		params map[string]any
		status int
	}{
		{"unknown rule", map[string]any{"Identity": demo.UPN + `\999`}, 404},
		{"unknown mailbox", map[string]any{"Identity": `ghost@contoso.example\1`}, 404},
		{"bare id without mailbox", map[string]any{"Identity": rules[0].RuleIdentity}, 404},
		{"mailbox disagrees with identity", map[string]any{"Identity": rules[0].Identity, "Mailbox": demo.ManagerUPN}, 404},
		{"ambiguous name", map[string]any{"Identity": demo.UPN + `\Newsletters`}, 400},
		{"unknown parameter", map[string]any{"Identity": rules[0].Identity, "Whatever": true}, 400},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.call("Remove-InboxRule", tc.params)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if code, detail, _ := exoErrorParts(t, body); detail == "" || (tc.status == 404 && code != "NotFound") {
				t.Errorf("error %s %q", code, detail)
			}
		})
	}
	if status, body := e.call("Enable-InboxRule", map[string]any{"Identity": ruleByName("Clean up").Identity}); status != 200 || !ruleByName("Clean up").Enabled {
		t.Errorf("Enable-InboxRule: %d %v", status, body)
	}
}

func rulesAsMaps(rules []InboxRule) []map[string]any {
	out := make([]map[string]any, len(rules))
	for i, r := range rules {
		out[i] = map[string]any{"Name": r.Name}
	}
	return out
}

func TestExchangeBlockedSendersAndDomains(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	e := newExo(t, sim)
	created := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sim.BlockSender("other@contoso.example", created)

	all, _ := e.all("Get-BlockedSenderAddress", nil)
	if len(all) != 2 {
		t.Fatalf("blocked = %v", all)
	}
	one, _ := e.all("Get-BlockedSenderAddress", map[string]any{"SenderAddress": "OTHER@contoso.example"})
	if len(one) != 1 || one[0]["CreatedDatetime"] != "2030-01-02T03:04:05Z" || one[0]["SenderAddress"] != "other@contoso.example" {
		t.Errorf("filtered = %v", one)
	}
	// Reason is the block's own reason, not a note: free text is refused and lifts nothing.
	if status, body := e.call("Remove-BlockedSenderAddress", map[string]any{"SenderAddress": demo.UPN, "Reason": "account secured"}); status != 400 || len(sim.BlockedSenders()) != 2 {
		t.Fatalf("Remove-BlockedSenderAddress with a free-text Reason: %d %v", status, body)
	}
	if status, body := e.call("Remove-BlockedSenderAddress", map[string]any{"SenderAddress": demo.UPN, "Reason": blockReason}); status != 200 {
		t.Fatalf("Remove-BlockedSenderAddress: %d %v", status, body)
	}
	if left := sim.BlockedSenders(); len(left) != 1 || left[0].SenderAddress != "other@contoso.example" {
		t.Errorf("left = %+v", left)
	}
	if status, _ := e.call("Remove-BlockedSenderAddress", map[string]any{"SenderAddress": demo.UPN}); status != 404 {
		t.Errorf("second removal: %d, want 404", status)
	}
	if none, _ := e.all("Get-BlockedSenderAddress", map[string]any{"SenderAddress": demo.UPN}); len(none) != 0 {
		t.Errorf("unblocked user still listed: %v", none)
	}

	domains, _ := e.all("Get-AcceptedDomain", nil)
	if got := names(domains, "DomainName"); !slices.Equal(got, []string{"contoso.example", "contoso.mail.onmicrosoft.example"}) {
		t.Errorf("domains = %v", got)
	}
	if domains[0]["Default"] != true || domains[1]["Default"] != false || domains[0]["DomainType"] != "Authoritative" {
		t.Errorf("domains = %v", domains)
	}
}

func TestExchangeAuthAndRouting(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	graphToken := fetchToken(t, sim, "https://graph.microsoft.com")
	body := invokeBody("Get-Mailbox", map[string]any{"Identity": demo.UPN})
	tests := []struct {
		name   string
		token  string
		target string
		method string
		status int
	}{
		{"graph token refused", graphToken, "/" + sim.TenantID() + "/InvokeCommand", http.MethodPost, 401},
		{"no token", "", "/" + sim.TenantID() + "/InvokeCommand", http.MethodPost, 401},
		{"tenant by domain", "exo", "/contoso.example/InvokeCommand", http.MethodPost, 200},
		{"unknown tenant", "exo", "/fabrikam.example/InvokeCommand", http.MethodPost, 404},
		{"GET refused", "exo", "/" + sim.TenantID() + "/InvokeCommand", http.MethodGet, 405},
		{"unknown operation", "exo", "/" + sim.TenantID() + "/Other", http.MethodPost, 404},
	}
	e := newExo(t, sim)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, sim.ExchangeURL()+tc.target, strings.NewReader(string(body)))
			switch tc.token {
			case "exo":
				req.Header.Set("Authorization", "Bearer "+e.token)
			case "":
			default:
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			status, _, resp := do(t, req)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, resp)
			}
			if status == 401 {
				if code, _, _ := exoErrorParts(t, resp); code != "InvalidAuthenticationToken" {
					t.Errorf("code = %s", code)
				}
			}
		})
	}
	for _, r := range sim.Requests() {
		if r.Service == ServiceExchange && r.Cmdlet != "Get-Mailbox" {
			t.Errorf("cmdlet recorded as %q", r.Cmdlet)
		}
	}
}

func TestExchangeThrottleByCmdlet(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	e := newExo(t, sim)
	sim.ThrottleNext(1, "Set-Mailbox", 3*time.Second)
	status, hdr, body := e.post(e.endpoint(), invokeBody("Set-Mailbox", map[string]any{"Identity": demo.UPN, "ForwardingSmtpAddress": nil}))
	if status != 429 || hdr.Get("Retry-After") != "3" {
		t.Fatalf("throttled: %d Retry-After %q %v", status, hdr.Get("Retry-After"), body)
	}
	if sim.Mailbox(demo.UPN).ForwardingSmtpAddress == "" {
		t.Error("a throttled Set-Mailbox changed the mailbox")
	}
	if status, _ := e.call("Set-Mailbox", map[string]any{"Identity": demo.UPN, "ForwardingSmtpAddress": nil}); status != 200 {
		t.Errorf("retry: %d", status)
	}
	if status, _ := e.call("Get-Mailbox", map[string]any{"Identity": demo.UPN}); status != 200 {
		t.Errorf("other cmdlet: %d", status)
	}
}

// Get-/Set-CASMailbox serve the nine settings disable-mail-protocols turns off as a new
// mailbox has them; Set-CASMailbox takes $null only where the cmdlet page lists it
// (SmtpClientAuthenticationDisabled), and Get-OrganizationConfig serves the tenant-wide
// EwsEnabled.
func TestExchangeCASMailboxSettingsAndOrganizationEWS(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	e := newExo(t, sim)
	status, body := e.call("Get-CASMailbox", map[string]any{"Identity": demo.UPN})
	if status != 200 {
		t.Fatalf("Get-CASMailbox: %d %v", status, body)
	}
	cas := body["value"].([]any)[0].(map[string]any)
	want := map[string]any{"OWAEnabled": true, "EwsEnabled": nil, "OutlookMobileEnabled": true, "MacOutlookEnabled": true, "SmtpClientAuthenticationDisabled": nil}
	for k, v := range want {
		if got, ok := cas[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if status, body := e.call("Set-CASMailbox", map[string]any{"Identity": demo.UPN, "SmtpClientAuthenticationDisabled": true, "OutlookMobileEnabled": false}); status != 200 {
		t.Fatalf("Set-CASMailbox: %d %v", status, body)
	}
	if p := sim.MailProtocols(demo.UPN); !MailProtocolOff("SmtpClientAuthenticationDisabled", p["SmtpClientAuthenticationDisabled"]) || !MailProtocolOff("OutlookMobileEnabled", p["OutlookMobileEnabled"]) {
		t.Errorf("after Set-CASMailbox: %v", p)
	}
	if status, body := e.call("Set-CASMailbox", map[string]any{"Identity": demo.UPN, "SmtpClientAuthenticationDisabled": nil}); status != 200 || sim.MailProtocols(demo.UPN)["SmtpClientAuthenticationDisabled"] != nil {
		t.Errorf("SmtpClientAuthenticationDisabled back to null: %d %v", status, body)
	}
	for _, name := range []string{"EwsEnabled", "OWAEnabled", "MacOutlookEnabled"} {
		if status, _ := e.call("Set-CASMailbox", map[string]any{"Identity": demo.UPN, name: nil}); status != 400 {
			t.Errorf("Set-CASMailbox %s=null answered %d, want 400", name, status)
		}
	}
	org := func() any {
		status, body := e.call("Get-OrganizationConfig", nil)
		if status != 200 {
			t.Fatalf("Get-OrganizationConfig: %d %v", status, body)
		}
		item := body["value"].([]any)[0].(map[string]any)
		v, ok := item["EwsEnabled"]
		if !ok {
			t.Fatal("no EwsEnabled")
		}
		return v
	}
	if v := org(); v != nil {
		t.Errorf("EwsEnabled of a new organisation = %v, want null", v)
	}
	sim.SetOrganizationEwsEnabled(new(bool))
	if v := org(); v != false {
		t.Errorf("EwsEnabled = %v, want false", v)
	}
}
