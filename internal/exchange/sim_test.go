package exchange_test

// These tests drive the real client against the tenant simulator at the page sizes real
// tenants see: Exchange honours Prefer: odata.maxpagesize=1000 (the client always asks for
// it), and a server may still cut smaller pages and hand out nextLinks, which the client
// must POST with the same body.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// simToken is a credential holding one token issued by the simulator's managed identity
// endpoint (the same token azidentity would fetch; azidentity itself reads the endpoint
// from the process environment, which parallel tests cannot share).
type simToken string

func (s simToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func newSimClient(t *testing.T, pageSize int) (*tenantsim.Sim, tenantsim.Demo, *exchange.Client) {
	t.Helper()
	sim := tenantsim.New(tenantsim.Options{PageSize: pageSize})
	demo := tenantsim.SeedDemo(sim)
	if _, err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	q := url.Values{"api-version": {"2019-08-01"}, "resource": {"https://outlook.office365.com"}}
	req, _ := http.NewRequest(http.MethodGet, sim.IdentityEndpoint()+"?"+q.Encode(), nil)
	req.Header.Set("X-IDENTITY-HEADER", sim.IdentityHeader())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v %+v", err, tok)
	}
	c, err := exchange.New(exchange.Options{BaseURL: sim.ExchangeURL(), TenantID: sim.TenantID(), Credential: simToken(tok.AccessToken), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return sim, demo, c
}

// largeMailbox adds n rules, every tenth hidden, with long descriptions and non-ASCII names.
func largeMailbox(sim *tenantsim.Sim, upn string, n int) []string {
	rules := make([]tenantsim.InboxRule, n)
	for i := range rules {
		rules[i] = tenantsim.InboxRule{
			Name: fmt.Sprintf("Règle %03d — 請求書 ✉", i), Enabled: true, Hidden: i%10 == 0,
			SubjectContainsWords: []string{fmt.Sprintf("projet-%d", i)}, MoveToFolder: fmt.Sprintf(`adele.vance:\Dossier %d`, i),
			Description: strings.Repeat(fmt.Sprintf("If the message includes 'projet-%d' move it. ", i), 40),
		}
	}
	return sim.AddInboxRules(upn, rules)
}

type pagedRequest struct {
	query string
	body  []byte
}

func requestsFor(sim *tenantsim.Sim, cmdlet string) []pagedRequest {
	var out []pagedRequest
	for _, r := range sim.Requests() {
		if r.Cmdlet == cmdlet {
			out = append(out, pagedRequest{query: r.RawQuery, body: r.Body})
		}
	}
	return out
}

func TestLargeMailboxIsListedWholeAtRealPageSizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		pageSize  int // what the server cuts at; the client asks for 1000
		wantPages int // requests for the two listings together
	}{
		{name: "Exchange honours maxpagesize=1000", pageSize: 1000, wantPages: 2},
		{name: "server pages of 100", pageSize: 100, wantPages: 6 + 5}, // 512 rules with the hidden ones, 459 without
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, demo, c := newSimClient(t, tt.pageSize)
			ids := largeMailbox(sim, demo.UPN, 500)
			sim.ResetRequests()
			rules, err := c.InboxRules(context.Background(), demo.UPN)
			if err != nil {
				t.Fatalf("InboxRules: %v", err)
			}
			want := sim.InboxRules(demo.UPN) // the demo's 12 rules and the 500
			if len(rules) != len(want) || len(want) != 512 {
				t.Fatalf("%d rules listed, the mailbox holds %d", len(rules), len(want))
			}
			byID := map[string]exchange.InboxRule{}
			for _, r := range rules {
				if _, dup := byID[r.Identity]; dup {
					t.Fatalf("rule %s listed twice", r.Identity)
				}
				byID[r.Identity] = r
			}
			for _, w := range want {
				got, ok := byID[w.Identity]
				if !ok || got.Name != w.Name || got.Hidden != w.Hidden || got.Description != w.Description || got.RuleIdentity != w.RuleIdentity || len(got.Unreadable) != 0 {
					t.Fatalf("rule %s: got %+v (listed %v), want name %q hidden %v", w.Identity, got, ok, w.Name, w.Hidden)
				}
			}
			if got := byID[ids[499]]; got.Name != "Règle 499 — 請求書 ✉" {
				t.Errorf("non-ASCII name came back as %q", got.Name)
			}
			reqs := requestsFor(sim, "Get-InboxRule")
			if len(reqs) != tt.wantPages {
				t.Errorf("%d Get-InboxRule requests, want %d", len(reqs), tt.wantPages)
			}
			checkNextLinksRepeatTheBody(t, reqs)
		})
	}
}

func TestHundredsOfRestrictedSendersAreListedWhole(t *testing.T) {
	t.Parallel()
	for _, pageSize := range []int{1000, 100} {
		t.Run(fmt.Sprint("page size ", pageSize), func(t *testing.T) {
			t.Parallel()
			sim, _, c := newSimClient(t, pageSize)
			base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			for i := 0; i < 299; i++ { // and the demo user's block: 300
				sim.BlockSender(fmt.Sprintf("user%03d@contoso.example", i), base.Add(time.Duration(i)*time.Minute))
			}
			sim.ResetRequests()
			senders, err := c.BlockedSenders(context.Background(), "")
			if err != nil {
				t.Fatalf("BlockedSenders: %v", err)
			}
			if len(senders) != 300 {
				t.Fatalf("%d senders, want 300", len(senders))
			}
			seen := map[string]bool{}
			for _, s := range senders {
				if seen[s.SenderAddress] || s.CreatedDatetime.IsZero() || !strings.HasPrefix(s.Reason, "ExceedingLimitType=") {
					t.Fatalf("sender %+v (duplicate %v)", s, seen[s.SenderAddress])
				}
				seen[s.SenderAddress] = true
			}
			reqs := requestsFor(sim, "Get-BlockedSenderAddress")
			if want := (300 + pageSize - 1) / pageSize; len(reqs) != want {
				t.Errorf("%d requests, want %d", len(reqs), want)
			}
			checkNextLinksRepeatTheBody(t, reqs)
		})
	}
}

// checkNextLinksRepeatTheBody: every follow-up request went to a nextLink ($skiptoken) with
// the first request's body.
func checkNextLinksRepeatTheBody(t *testing.T, reqs []pagedRequest) {
	t.Helper()
	first := map[string][]byte{} // by body: the two Get-InboxRule listings differ
	for _, r := range reqs {
		if r.query == "" {
			first[string(r.body)] = r.body
		}
	}
	for _, r := range reqs {
		if r.query == "" {
			continue
		}
		if !strings.Contains(r.query, "skiptoken") {
			t.Errorf("follow-up request without a skiptoken: %q", r.query)
		}
		if _, ok := first[string(r.body)]; !ok || !bytes.Contains(r.body, []byte(`"CmdletName"`)) {
			t.Errorf("nextLink POSTed with another body: %s", r.body)
		}
	}
}
