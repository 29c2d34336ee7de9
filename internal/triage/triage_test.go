package triage

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	adeleID  = "7f0c8a5e-3b1d-4e2f-9a6b-0c1d2e3f4a5b"
	meganID  = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
	adminID  = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	adeleUPN = "adele.vance@contoso.example"
)

// fixture reads an incident of testdata (the object of the Sentinel incident trigger) and
// lets a test change it before it is encoded again.
func fixture(t *testing.T, name string, change func(props map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if change == nil {
		return raw
	}
	var inc map[string]any
	if err := json.Unmarshal(raw, &inc); err != nil {
		t.Fatal(err)
	}
	change(inc["properties"].(map[string]any))
	out, err := json.Marshal(inc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// alertsKey is the name the fixture uses for the alerts ("Alerts" or "alerts").
func alertsKey(props map[string]any) string {
	if _, ok := props["Alerts"]; ok {
		return "Alerts"
	}
	return "alerts"
}

func addAlert(props map[string]any, alert map[string]any) {
	k := alertsKey(props)
	list, _ := props[k].([]any)
	props[k] = append(list, map[string]any{"kind": "SecurityAlert", "properties": alert})
}

func addAccount(props map[string]any, name, suffix, id string) {
	list, _ := props["relatedEntities"].([]any)
	p := map[string]any{"accountName": name, "upnSuffix": suffix}
	if id != "" {
		p["aadUserId"] = id
	}
	props["relatedEntities"] = append(list, map[string]any{"kind": "Account", "type": "Microsoft.SecurityInsights/Entities", "properties": p})
}

func decisions(t *testing.T, body []byte, table *Table) map[string]Account {
	t.Helper()
	if table == nil {
		table, _ = NewTable(nil)
	}
	res, err := Sentinel(body, table)
	if err != nil {
		t.Fatalf("Sentinel: %v", err)
	}
	out := map[string]Account{}
	for i, a := range res.Accounts {
		key := a.User
		if key == "" {
			key = fmt.Sprintf("invalid#%d", i)
		}
		if _, dup := out[key]; dup {
			t.Errorf("account %s answered twice", key)
		}
		out[key] = a
		if a.Why == "" {
			t.Errorf("%s: %s without a why", key, a.Decision)
		}
	}
	return out
}

func remediated(got map[string]Account) []string {
	var out []string
	for user, a := range got {
		if a.Decision == Remediate {
			out = append(out, user)
		}
	}
	return out
}

// The acceptance test of issue 26 item 1: the account entities of a Defender for Office 365
// phishing incident are its recipients, and those of a password spray are the attacker's
// picks; none is remediated. A confirmed compromise's account is.
func TestRecipientsAndSprayTargetsAreNeverRemediated(t *testing.T) {
	t.Parallel()
	phish := decisions(t, fixture(t, "mdo-phishing.json", nil), nil)
	if len(phish) != 3 {
		t.Fatalf("phishing incident: %d accounts, want its 3 recipients: %+v", len(phish), phish)
	}
	for user, a := range phish {
		if a.Decision != Skip || !strings.Contains(a.Why, "Email messages containing malicious URL removed after delivery") {
			t.Errorf("phishing recipient %s: %s (%s), want skip naming the mail alert", user, a.Decision, a.Why)
		}
	}
	spray := decisions(t, fixture(t, "password-spray.json", nil), nil)
	if len(spray) != 4 {
		t.Fatalf("spray incident: %d accounts, want its 4 targets: %+v", len(spray), spray)
	}
	for user, a := range spray {
		if a.Decision != Skip || !strings.Contains(a.Why, "attacker chose") {
			t.Errorf("spray target %s: %s (%s), want skip", user, a.Decision, a.Why)
		}
	}
	confirmed := decisions(t, fixture(t, "anomalous-token.json", nil), nil)
	if got := confirmed[adeleID]; got.Decision != Remediate || got.UserPrincipalName != adeleUPN || !strings.Contains(got.Why, "Anomalous Token") {
		t.Errorf("anomalous token: %+v, want adele remediated by object id", got)
	}
}

func TestSentinelDecisions(t *testing.T) {
	t.Parallel()
	trusted, invalid := NewTable([]string{"Microsoft Sentinel|Contoso - inbox rule moving mail to RSS Feeds", "no separator", "|empty product"})
	if len(invalid) != 2 {
		t.Errorf("invalid TRIAGE_TRUSTED_ALERTS entries = %q, want the two malformed ones", invalid)
	}
	tests := []struct {
		name    string
		fixture string
		change  func(p map[string]any)
		table   *Table
		want    map[string]string // user -> decision; every account answered must be listed
	}{
		{
			name: "an analyst's tag on a phishing incident remediates that account only", fixture: "mdo-phishing.json",
			change: func(p map[string]any) {
				p["labels"] = []any{map[string]any{"labelName": "Tourniquet:Remediate:megan.bowen@contoso.example", "labelType": "User"}}
			},
			want: map[string]string{adeleID: Skip, meganID: Remediate, adminID: Skip},
		},
		{
			name: "a tag by object id", fixture: "password-spray.json",
			change: func(p map[string]any) {
				p["labels"] = []any{map[string]any{"labelName": "tourniquet:remediate:" + strings.ToUpper(adeleID), "labelType": "User"}}
			},
			want: map[string]string{adeleID: Remediate, "globaladmin@contoso.example": Skip, "breakglass01@contoso.example": Skip, "it.helpdesk@contoso.example": Skip, "ceo@contoso.example": Skip},
		},
		{
			name: "a recipient whom Entra ID Protection saw travel atypically is remediated, the other recipients are not", fixture: "mdo-phishing.json",
			change: func(p map[string]any) {
				addAlert(p, map[string]any{"productName": "Azure Active Directory Identity Protection", "alertDisplayName": "Atypical travel", "alertType": "UnlikelyTravel", "compromisedEntity": "Adele.Vance@contoso.example"})
			},
			want: map[string]string{adeleID: Remediate, meganID: Skip, adminID: Skip},
		},
		{
			name: "an unconfirmed alert naming one recipient makes that one a dry run; the other recipients stay skipped", fixture: "mdo-phishing.json",
			change: func(p map[string]any) {
				addAlert(p, map[string]any{"productName": "Azure Active Directory Identity Protection", "alertDisplayName": "Unfamiliar sign-in properties", "compromisedEntity": meganID})
			},
			want: map[string]string{adeleID: Skip, meganID: DryRun, adminID: Skip},
		},
		{
			name: "a click on the phishing link is a dry run for everyone: who clicked is not said", fixture: "mdo-phishing.json",
			change: func(p map[string]any) {
				addAlert(p, map[string]any{"productName": "Microsoft Defender for Office 365", "alertDisplayName": "A potentially malicious URL click was detected", "alertType": "ThreatManagement"})
			},
			want: map[string]string{adeleID: DryRun, meganID: DryRun, adminID: DryRun},
		},
		{
			name: "a scheduled rule the table does not know is a dry run", fixture: "anomalous-token.json",
			change: func(p map[string]any) {
				p["Alerts"] = []any{map[string]any{"properties": map[string]any{"productName": "Azure Sentinel", "alertDisplayName": "Contoso - rare sign-in country", "alertType": "x_y"}}}
			},
			want: map[string]string{adeleID: DryRun},
		},
		{
			name: "a rule the operator trusts (TRIAGE_TRUSTED_ALERTS) remediates its only account", fixture: "anomalous-token.json", table: trusted,
			change: func(p map[string]any) {
				p["Alerts"] = []any{map[string]any{"properties": map[string]any{"productName": "Microsoft Sentinel", "alertDisplayName": "Contoso - inbox rule moving mail to  RSS feeds"}}}
			},
			want: map[string]string{adeleID: Remediate},
		},
		{
			name: "a Defender XDR incident that arrives without alerts is a dry run", fixture: "mdo-phishing.json",
			change: func(p map[string]any) { p["Alerts"] = []any{} },
			want:   map[string]string{adeleID: DryRun, meganID: DryRun, adminID: DryRun},
		},
		{
			name: "a compromise alert that does not say which of two accounts is a dry run for both", fixture: "anomalous-token.json",
			change: func(p map[string]any) {
				addAccount(p, "megan.bowen", "contoso.example", meganID)
				p["Alerts"].([]any)[0].(map[string]any)["properties"].(map[string]any)["compromisedEntity"] = "Adele Vance"
			},
			want: map[string]string{adeleID: DryRun, meganID: DryRun},
		},
		{
			name: "the only account of a compromise alert without compromisedEntity is remediated", fixture: "anomalous-token.json",
			change: func(p map[string]any) {
				delete(p["Alerts"].([]any)[0].(map[string]any)["properties"].(map[string]any), "compromisedEntity")
			},
			want: map[string]string{adeleID: Remediate},
		},
		{
			name: "an alert that cannot be read makes that a dry run", fixture: "anomalous-token.json",
			change: func(p map[string]any) {
				delete(p["Alerts"].([]any)[0].(map[string]any)["properties"].(map[string]any), "compromisedEntity")
				p["Alerts"] = append(p["Alerts"].([]any), 42, map[string]any{"properties": "not an object"})
			},
			want: map[string]string{adeleID: DryRun},
		},
		{
			name: "alerts that carry their own entities (SecurityAlert's Entities, a JSON string) tell the compromised account from the spray targets", fixture: "password-spray.json",
			change: func(p map[string]any) {
				spray := p["alerts"].([]any)[0].(map[string]any)["properties"].(map[string]any)
				spray["entities"] = `[{"$id":"2","Name":"globaladmin","UPNSuffix":"contoso.example","IsDomainJoined":false,"Type":"account"},{"$id":"3","Name":"it.helpdesk","UPNSuffix":"contoso.example","Type":"account"},{"$id":"4","Address":"198.51.100.77","Type":"ip"}]`
				addAlert(p, map[string]any{"productName": "Microsoft Cloud App Security", "alertDisplayName": "Suspicious inbox forwarding", "alertType": "MCAS_ALERT_ANUBIS_DETECTION_INBOX_FORWARDING",
					"entities": []any{map[string]any{"$id": "2", "Name": "ceo", "UPNSuffix": "contoso.example", "AadUserId": "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e", "Type": "account"}, map[string]any{"$ref": "2"}}})
			},
			want: map[string]string{"5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e": Remediate, "globaladmin@contoso.example": Skip, "it.helpdesk@contoso.example": Skip, "breakglass01@contoso.example": Skip},
		},
		{
			name: "a spray plus a compromise alert naming one account: the others are spray targets", fixture: "password-spray.json",
			change: func(p map[string]any) {
				addAlert(p, map[string]any{"productName": "Microsoft Entra ID Protection", "alertDisplayName": "Leaked credentials", "compromisedEntity": "CEO@contoso.example"})
			},
			want: map[string]string{"ceo@contoso.example": Remediate, "globaladmin@contoso.example": Skip, "breakglass01@contoso.example": Skip, "it.helpdesk@contoso.example": Skip},
		},
		{
			name: "Entra ID Protection's password spray (a spray that worked) is a dry run", fixture: "anomalous-token.json",
			change: func(p map[string]any) {
				p["Alerts"].([]any)[0].(map[string]any)["properties"].(map[string]any)["alertDisplayName"] = "Password spray"
			},
			want: map[string]string{adeleID: DryRun},
		},
		{
			name: "Defender for Identity brute force: its accounts are skipped", fixture: "anomalous-token.json",
			change: func(p map[string]any) {
				p["Alerts"] = []any{map[string]any{"properties": map[string]any{"productName": "Azure Advanced Threat Protection", "alertDisplayName": "Suspected Brute Force attack (Kerberos, NTLM)"}}}
			},
			want: map[string]string{adeleID: Skip},
		},
		{
			name: "the user who reported a phish is skipped", fixture: "anomalous-token.json",
			change: func(p map[string]any) {
				p["Alerts"] = []any{map[string]any{"properties": map[string]any{"productName": "Office 365 Advanced Threat Protection", "alertDisplayName": "Email reported by user as malware or phish"}}}
			},
			want: map[string]string{adeleID: Skip},
		},
		{
			name: "a compromise-only incident whose one account is also a mail recipient is a dry run", fixture: "anomalous-token.json",
			change: func(p map[string]any) {
				delete(p["Alerts"].([]any)[0].(map[string]any)["properties"].(map[string]any), "compromisedEntity")
				p["relatedEntities"] = append(p["relatedEntities"].([]any), map[string]any{"kind": "MailMessage", "properties": map[string]any{"recipient": "ADELE.VANCE@contoso.example"}})
			},
			want: map[string]string{adeleID: DryRun},
		},
		{
			name: "the same person as two entities (object id, then name and suffix) is one account", fixture: "anomalous-token.json",
			change: func(p map[string]any) {
				addAccount(p, "adele.vance", "contoso.example", "")
			},
			want: map[string]string{adeleID: Remediate},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := decisions(t, fixture(t, tt.fixture, tt.change), tt.table)
			if len(got) != len(tt.want) {
				t.Errorf("answered %d accounts, want %d: %+v", len(got), len(tt.want), got)
			}
			for user, want := range tt.want {
				if a, ok := got[user]; !ok || a.Decision != want {
					t.Errorf("%s: %q (%s), want %s", user, a.Decision, a.Why, want)
				}
			}
		})
	}
}

// Identifiers from the incident reach a URL path or an OData filter of the remediation:
// only a valid object id or UPN comes out as a user, and a tag naming something else acts
// on nothing.
func TestHostileIdentifiersAreNeverAnswered(t *testing.T) {
	t.Parallel()
	body := fixture(t, "mdo-phishing.json", func(p map[string]any) {
		p["Alerts"] = []any{map[string]any{"properties": map[string]any{"productName": "Azure Active Directory Identity Protection", "alertDisplayName": "Admin confirmed user compromised"}}}
		p["relatedEntities"] = []any{
			map[string]any{"kind": "Account", "properties": map[string]any{"accountName": "x' or userPrincipalName eq 'admin", "upnSuffix": "contoso.example"}},
			map[string]any{"kind": "Account", "properties": map[string]any{"aadUserId": "../../users/" + adminID, "accountName": "a/b", "upnSuffix": "contoso.example"}},
			map[string]any{"kind": "Account", "properties": map[string]any{"accountName": "<img src=x onerror=alert(1)>", "upnSuffix": "contoso.example"}},
		}
		p["labels"] = []any{
			map[string]any{"labelName": "tourniquet:remediate:admin@contoso.example' or '1'='1"},
			map[string]any{"labelName": "tourniquet:remediate:"},
			map[string]any{"labelName": "tourniquet:remediate"},
		}
	})
	table, _ := NewTable(nil)
	res, err := Sentinel(body, table)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accounts) != 3 {
		t.Fatalf("answered %+v, want the three entities, skipped", res.Accounts)
	}
	for _, a := range res.Accounts {
		if a.User != "" || a.UserPrincipalName != "" || a.Decision != Skip {
			t.Errorf("hostile entity answered %+v, want skip with no user", a)
		}
		if len(a.Why) > 400 {
			t.Errorf("why is %d bytes long", len(a.Why))
		}
	}
}

func TestMalformedAndOversizedIncidentsAreRefused(t *testing.T) {
	t.Parallel()
	table, _ := NewTable(nil)
	many := func(key string, n int, item any) []byte {
		items := make([]any, n)
		for i := range items {
			items[i] = item
		}
		b, _ := json.Marshal(map[string]any{"properties": map[string]any{key: items}})
		return b
	}
	for name, body := range map[string][]byte{
		"an array":                 []byte(`[]`),
		"null":                     []byte(`null`),
		"a string":                 []byte(`"incident"`),
		"not JSON":                 []byte(`{"properties":`),
		"properties not an object": []byte(`{"properties": 5}`),
		"too many alerts":          many("alerts", maxAlerts+1, map[string]any{}),
		"too many entities":        many("relatedEntities", maxEntities+1, map[string]any{"kind": "Ip"}),
		"too many labels":          many("labels", maxLabels+1, map[string]any{"labelName": "x"}),
		"an alert with too many entities": many("alerts", 1, map[string]any{"properties": map[string]any{
			"entities": slices.Repeat([]any{map[string]any{"Type": "ip"}}, maxAlertEntities+1)}}),
	} {
		if res, err := Sentinel(body, table); err == nil {
			t.Errorf("%s: accepted, answered %+v", name, res)
		}
	}
	// Values of an unexpected type are ignored, not refused: a schema change on Microsoft's
	// side must not fail the playbook.
	res, err := Sentinel([]byte(`{"name": 7, "properties": {"labels": "x", "alerts": {"a": 1}, "relatedEntities": [1, "x", {"kind": "Account", "properties": {"accountName": ["a"], "upnSuffix": "contoso.example", "aadUserId": "`+adeleID+`"}}]}}`), table)
	if err != nil || len(res.Accounts) != 1 || res.Accounts[0].Decision != DryRun {
		t.Errorf("odd types: %+v, %v; want one account, dry run (no alert)", res, err)
	}
}

func TestTableNormalizesNames(t *testing.T) {
	t.Parallel()
	table, _ := NewTable(nil)
	for _, tt := range []struct{ product, name, alertType string }{
		{"Office 365 Advanced Threat Protection", "Email messages containing malicious URL removed after delivery\u200b", ""},
		{"MICROSOFT DEFENDER FOR OFFICE 365", "  email messages containing malicious  URL removed after delivery ", ""},
	} {
		if c, _ := table.Classify(tt.product, tt.name, tt.alertType); c != Mail {
			t.Errorf("%q / %q = %s, want mail", tt.product, tt.name, c)
		}
	}
	if c, _ := table.Classify("Contoso SIEM", "Email messages containing malicious URL removed after delivery", ""); c != Unknown {
		t.Errorf("a Defender for Office 365 name from another product = %s, want unknown", c)
	}
	if c, _ := table.Classify("Microsoft Defender for Cloud Apps", "Multiple failed login attempts", ""); c != Spray {
		t.Errorf("Multiple failed login attempts = %s, want spray", c)
	}
	if c, _ := table.Classify("Microsoft Sentinel", "Successful sign-in after password spray", ""); c != Unconfirmed {
		t.Errorf("a spray that may have succeeded = %s, want unconfirmed (a dry run)", c)
	}
	if c, _ := table.Classify("Microsoft Defender for Identity", "Suspected Brute Force attack (LDAP)", "LdapBruteForceSecurityAlert"); c != Spray {
		t.Errorf("Defender for Identity's LDAP brute force = %s, want spray", c)
	}
}

// The playbook sends the triage a projection of the trigger's incident (Select_alerts in
// workflow.json): each alert's five fields, null where the alert has none. The decisions are
// those of the whole incident.
func TestThePlaybooksProjectionDecidesAsTheWholeIncident(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"mdo-phishing.json", "password-spray.json", "anomalous-token.json"} {
		whole := decisions(t, fixture(t, name, nil), nil)
		projected := decisions(t, fixture(t, name, func(p map[string]any) {
			var alerts []any
			for _, a := range p[alertsKey(p)].([]any) {
				ap := a.(map[string]any)["properties"].(map[string]any)
				sel := map[string]any{}
				for _, f := range []string{"productName", "alertDisplayName", "alertType", "compromisedEntity", "entities"} {
					sel[f] = ap[f] // nil (JSON null) when absent, as Logic Apps' ?[] gives
				}
				alerts = append(alerts, map[string]any{"properties": sel})
			}
			for k := range p {
				if k != "labels" && k != "relatedEntities" {
					delete(p, k)
				}
			}
			p["alerts"] = alerts
		}), nil)
		if len(whole) != len(projected) {
			t.Fatalf("%s: %d accounts whole, %d projected", name, len(whole), len(projected))
		}
		for user, a := range whole {
			if projected[user].Decision != a.Decision {
				t.Errorf("%s: %s is %s whole, %s projected", name, user, a.Decision, projected[user].Decision)
			}
		}
	}
}

// A phishing campaign of hundreds of recipients: the answer lists at most maxAnswered
// accounts, the tagged one first, and says how many it left out; thousands of entities cost
// no more than reading them.
func TestALargeIncidentIsAnsweredInBoundedSpaceAndTime(t *testing.T) {
	t.Parallel()
	body := fixture(t, "mdo-phishing.json", func(p map[string]any) {
		for i := range maxEntities/2 - 10 {
			addAccount(p, fmt.Sprintf("user%04d", i), "contoso.example", "")
			p["relatedEntities"] = append(p["relatedEntities"].([]any), map[string]any{"kind": "MailMessage", "properties": map[string]any{"recipient": fmt.Sprintf("user%04d@contoso.example", i)}})
		}
		alert := p["Alerts"].([]any)[0].(map[string]any)["properties"].(map[string]any)
		var own []any
		for i := range maxAlertEntities {
			own = append(own, map[string]any{"Type": "account", "Name": fmt.Sprintf("user%04d", i), "UPNSuffix": "contoso.example"})
		}
		alert["entities"] = own
		p["Alerts"] = slices.Repeat(p["Alerts"].([]any), 100)
		p["labels"] = []any{map[string]any{"labelName": "tourniquet:remediate:user0999@contoso.example"}}
	})
	table, _ := NewTable(nil)
	start := time.Now()
	res, err := Sentinel(body, table)
	if elapsed := time.Since(start); err != nil || elapsed > 5*time.Second {
		t.Fatalf("Sentinel: %v after %s", err, elapsed)
	}
	if len(res.Accounts) != maxAnswered {
		t.Fatalf("answered %d accounts, want %d", len(res.Accounts), maxAnswered)
	}
	if first := res.Accounts[0]; first.User != "user0999@contoso.example" || first.Decision != Remediate {
		t.Errorf("first answer %+v, want the tagged account, remediate", first)
	}
	for _, a := range res.Accounts[1 : maxAnswered-1] {
		if a.Decision != Skip {
			t.Errorf("%s: %s (%s), want skip", a.User, a.Decision, a.Why)
		}
	}
	if last := res.Accounts[maxAnswered-1]; last.User != "" || last.Decision != Skip || !strings.Contains(last.Why, "not listed and not acted on") {
		t.Errorf("last answer %+v, want the count of the accounts left out", last)
	}
}

// The worst a 1 MiB body can hold for the per-account work: hundreds of differently named
// mail alerts that name no account, and thousands of accounts, each of which is described
// by those alerts.
func TestManyAlertsTimesManyAccountsStaysFast(t *testing.T) {
	t.Parallel()
	var alerts, entities []any
	for i := range maxAlerts {
		alerts = append(alerts, map[string]any{"properties": map[string]any{"productName": "Microsoft Sentinel", "alertDisplayName": fmt.Sprintf("Password spray %d", i)}})
	}
	for i := range maxEntities {
		entities = append(entities, map[string]any{"kind": "Account", "properties": map[string]any{"accountName": fmt.Sprintf("u%d", i), "upnSuffix": "contoso.example"}})
	}
	body, _ := json.Marshal(map[string]any{"properties": map[string]any{"alerts": alerts, "relatedEntities": entities}})
	table, _ := NewTable(nil)
	start := time.Now()
	res, err := Sentinel(body, table)
	if elapsed := time.Since(start); err != nil || elapsed > 5*time.Second {
		t.Fatalf("Sentinel: %v after %s", err, elapsed)
	}
	if len(res.Accounts) != maxAnswered || res.Accounts[0].Decision != Skip {
		t.Errorf("answered %d accounts, first %+v; want %d, skipped", len(res.Accounts), res.Accounts[0], maxAnswered)
	}
	t.Logf("%d bytes, %s", len(body), time.Since(start))
}
