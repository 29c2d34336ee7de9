package tenantsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignInsArePagedWithAbsoluteNextLinksAndRefusedWithoutP1(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	token := fetchToken(t, sim, "https://graph.microsoft.com")
	since := time.Now().UTC().Add(-7 * 24 * time.Hour).Format(time.RFC3339)
	q := "/auditLogs/signIns?$filter=" + url.QueryEscape("userId eq '"+demo.UserID+"' and createdDateTime ge "+since)
	var all []map[string]any
	for target, pages := q, 0; target != ""; pages++ {
		status, _, body := graphCallHTTP(t, sim, token, http.MethodGet, target, nil)
		if status != http.StatusOK || pages > 50 {
			t.Fatalf("status %d after %d pages: %v", status, pages, body)
		}
		for _, v := range body["value"].([]any) {
			all = append(all, v.(map[string]any))
		}
		target, _ = body["@odata.nextLink"].(string)
		if target != "" && !strings.HasPrefix(target, sim.GraphURL()+"/auditLogs/signIns?") {
			t.Fatalf("nextLink %q is not absolute", target)
		}
	}
	if len(all) != 17 {
		t.Fatalf("%d sign-ins, want 17", len(all))
	}
	first := all[0]
	loc, _ := first["location"].(map[string]any)
	st, _ := first["status"].(map[string]any)
	if _, ok := st["errorCode"].(float64); !ok || loc["countryOrRegion"] == nil || first["ipAddress"] == nil || first["createdDateTime"] == nil {
		t.Errorf("sign-in shape %v", first)
	}
	if a, b := all[0]["createdDateTime"].(string), all[len(all)-1]["createdDateTime"].(string); a < b {
		t.Errorf("not newest first: %s .. %s", a, b)
	}
	// Filters Tourniquet does not send answer 400, as an unsupported filter does.
	if status, _, _ := graphCallHTTP(t, sim, token, http.MethodGet, "/auditLogs/signIns?$filter="+url.QueryEscape("startswith(ipAddress, '1.2')"), nil); status != http.StatusBadRequest {
		t.Errorf("unsupported filter: %d", status)
	}
	// Tenant-wide by address (the related-users look-up): the demo user's and Lee Gu's
	// sign-ins from the attacker's address, one page of $top.
	status, _, byIP := graphCallHTTP(t, sim, token, http.MethodGet, "/auditLogs/signIns?$top=100&$filter="+url.QueryEscape("ipAddress eq '"+AttackerIP+"' and createdDateTime ge 2000-01-01T00:00:00Z"), nil)
	users := map[string]int{}
	for _, v := range byIP["value"].([]any) {
		users[v.(map[string]any)["userPrincipalName"].(string)]++
	}
	if status != http.StatusOK || users[demo.UPN] != 4 || users[demo.AssistantUPN] != 3 || len(users) != 2 {
		t.Errorf("sign-ins from %s: %d %v", AttackerIP, status, users)
	}

	sim.SetSignInLogsLicensed(false)
	status, _, body := graphCallHTTP(t, sim, token, http.MethodGet, q, nil)
	code, msg := graphErrorParts(t, body)
	if status != http.StatusForbidden || code != "Authentication_RequestFromNonPremiumTenantOrB2CTenant" || msg != "Neither tenant is B2C or tenant doesn't have premium license" {
		t.Errorf("unlicensed: %d %s %s", status, code, msg)
	}
}

func TestDirectoryAuditsByInitiatorAndByTarget(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	token := fetchToken(t, sim, "https://graph.microsoft.com")
	count := func(filter string) (int, int) {
		status, _, body := graphCallHTTP(t, sim, token, http.MethodGet, "/auditLogs/directoryAudits?$top=50&$filter="+url.QueryEscape(filter), nil)
		v, _ := body["value"].([]any)
		return status, len(v)
	}
	// The attacker, as the user: security info, consent, a service principal's credentials.
	if s, n := count("initiatedBy/user/id eq '" + demo.UserID + "'"); s != 200 || n != 3 {
		t.Errorf("by initiator: %d, %d records", s, n)
	}
	if s, n := count("targetResources/any(t: t/id eq '" + demo.UserID + "') and activityDateTime ge 2020-01-01T00:00:00Z"); s != 200 || n != 2 {
		t.Errorf("by target: %d, %d records", s, n)
	}
	if s, _ := count("targetResources/any(t: x/id eq '" + demo.UserID + "')"); s != 400 {
		t.Errorf("undefined lambda variable: %d", s)
	}
}

func TestUnifiedAuditLogCarriesAuditDataAsAString(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	e := newExo(t, sim)
	now := time.Now().UTC()
	items, _ := e.all("Search-UnifiedAuditLog", map[string]any{"StartDate": now.Add(-24 * time.Hour).Format(time.RFC3339), "EndDate": now.Format(time.RFC3339),
		"UserIds": []string{demo.UPN}, "Operations": []string{"New-InboxRule"}})
	if len(items) != 2 {
		t.Fatalf("%d records, want the two rules of the attack", len(items))
	}
	raw, ok := items[0]["AuditData"].(string)
	if !ok {
		t.Fatalf("AuditData is %T, want a string", items[0]["AuditData"])
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(raw), &data); err != nil || !strings.HasPrefix(data["ClientIP"].(string), AttackerIP+":") {
		t.Errorf("AuditData %s (%v)", raw, err)
	}
	if items[0]["ResultCount"] != float64(2) || items[0]["ResultIndex"] == nil {
		t.Errorf("ResultIndex/ResultCount missing: %v", items[0])
	}
	if status, _ := e.call("Get-MessageTraceV2", map[string]any{"SenderAddress": demo.UPN, "StartDate": now.Add(-11 * 24 * time.Hour).Format(time.RFC3339), "EndDate": now.Format(time.RFC3339)}); status != http.StatusBadRequest {
		t.Errorf("an 11-day message trace answered %d", status)
	}
}
