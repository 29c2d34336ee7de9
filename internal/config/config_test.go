package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	base := map[string]string{"AzureWebJobsStorage": "UseDevelopmentStorage=true", "AZURE_TENANT_ID": "t"}
	for k, v := range kv {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func TestEasyAuthNeedsAppServiceAuthentication(t *testing.T) {
	for value, ok := range map[string]bool{"": false, "false": false, "1": false, "True": true, "true": true, " TRUE ": true} {
		_, err := Load(env(map[string]string{"AUTH_MODE": "easyauth", "WEBSITE_AUTH_ENABLED": value}), t.TempDir())
		if ok != (err == nil) {
			t.Errorf("WEBSITE_AUTH_ENABLED=%q: %v", value, err)
		}
		if err != nil && !strings.Contains(err.Error(), "WEBSITE_AUTH_ENABLED=True") {
			t.Errorf("message does not say what to do: %v", err)
		}
	}
}

func TestRecordKeyIsBase64OfAtLeast32Bytes(t *testing.T) {
	good := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	c, err := Load(env(map[string]string{"TOURNIQUET_RECORD_KEY": good}), t.TempDir())
	if err != nil || len(c.RecordKey) != 32 {
		t.Fatalf("good key: %v (%d bytes)", err, len(c.RecordKey))
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := Load(env(map[string]string{"TOURNIQUET_RECORD_KEY": bad}), t.TempDir()); err == nil || strings.Contains(err.Error(), bad) {
			t.Errorf("key %q: %v (the error must not echo the key)", bad, err)
		}
	}
}

func TestServiceURLsGoOnlyToMicrosoftOrLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		setting, value string
		ok             bool
	}{
		{"GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0", true},
		{"GRAPH_BASE_URL", "https://GRAPH.microsoft.com/beta", true},
		{"GRAPH_BASE_URL", "https://graph.microsoft.com:443/v1.0", true},
		{"GRAPH_BASE_URL", "https://graph.microsoft.us/v1.0", true},
		{"GRAPH_BASE_URL", "https://dod-graph.microsoft.us/v1.0", true},
		{"GRAPH_BASE_URL", "https://microsoftgraph.chinacloudapi.cn/v1.0", true},
		{"GRAPH_BASE_URL", "http://127.0.0.1:8080/v1.0", true},
		{"GRAPH_BASE_URL", "https://127.8.9.10:4443", true},
		{"GRAPH_BASE_URL", "http://[::1]:9000/v1.0", true},
		{"GRAPH_BASE_URL", "http://localhost:9000", true},
		{"GRAPH_BASE_URL", "https://graph.microsoft.com.evil.example/v1.0", false},
		{"GRAPH_BASE_URL", "https://graph.microsoft.com@evil.example/v1.0", false},
		{"GRAPH_BASE_URL", "https://user:pw@graph.microsoft.com/v1.0", false},
		{"GRAPH_BASE_URL", "https://evilgraph.microsoft.com/v1.0", false},
		{"GRAPH_BASE_URL", "https://graph.microsoft.com./v1.0", false},
		{"GRAPH_BASE_URL", "https://graph.microsoft.com:8443/v1.0", false},
		{"GRAPH_BASE_URL", "http://graph.microsoft.com/v1.0", false},
		{"GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0?x=1", false},
		{"GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0#frag", false},
		{"GRAPH_BASE_URL", "http://127.evil.example/v1.0", false},
		{"GRAPH_BASE_URL", "http://localhost.evil.example/v1.0", false},
		{"GRAPH_BASE_URL", "http://10.0.0.1/v1.0", false},
		{"GRAPH_BASE_URL", "ftp://127.0.0.1/v1.0", false},
		{"GRAPH_BASE_URL", "https://outlook.office365.com/v1.0", false}, // an Exchange host is not a Graph host
		{"GRAPH_BASE_URL", "graph.microsoft.com/v1.0", false},
		{"EXCHANGE_BASE_URL", "https://outlook.office365.com/adminapi/beta", true},
		{"EXCHANGE_BASE_URL", "https://outlook.office.com/adminapi/beta", true},
		{"EXCHANGE_BASE_URL", "https://outlook.office365.us/adminapi/beta", true},
		{"EXCHANGE_BASE_URL", "https://webmail.apps.mil/adminapi/beta", true},
		{"EXCHANGE_BASE_URL", "https://partner.outlook.cn/adminapi/beta", true},
		{"EXCHANGE_BASE_URL", "http://127.0.0.1:7000/adminapi/beta", true},
		{"EXCHANGE_BASE_URL", "https://graph.microsoft.com/adminapi/beta", false},
		{"EXCHANGE_BASE_URL", "https://outlook.office365.com.evil.example/adminapi/beta", false},
		{"EXCHANGE_BASE_URL", "https://outlook.office365.com@evil.example/adminapi/beta", false},
		{"EXCHANGE_BASE_URL", "http://outlook.office365.com/adminapi/beta", false},
	}
	for _, tt := range tests {
		t.Run(tt.setting+" "+tt.value, func(t *testing.T) {
			env := map[string]string{"AzureWebJobsStorage": "UseDevelopmentStorage=true", "AZURE_TENANT_ID": "t", tt.setting: tt.value}
			_, err := Load(func(k string) string { return env[k] }, t.TempDir())
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				if !strings.Contains(err.Error(), tt.setting) {
					t.Fatalf("the message does not name the setting: %v", err)
				}
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.255.0.9": true, "::1": true,
		"127.evil.example": false, "127.0.0.1.nip.io": false, "localhost.example": false, "0.0.0.0": false, "::": false, "": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestApprovalSettings(t *testing.T) {
	c, err := Load(env(nil), t.TempDir())
	if err != nil || c.ApprovalMode != "none" || c.ApprovalTimeout != time.Hour {
		t.Fatalf("defaults: mode %q timeout %s err %v, want none 1h", c.ApprovalMode, c.ApprovalTimeout, err)
	}
	for _, tt := range []struct {
		mode, timeout string
		want          time.Duration
	}{{"admins", "", time.Hour}, {"all", "30m", 30 * time.Minute}, {"none", "90s", 90 * time.Second}} {
		c, err := Load(env(map[string]string{"APPROVAL_MODE": tt.mode, "APPROVAL_TIMEOUT": tt.timeout}), t.TempDir())
		if err != nil || c.ApprovalMode != tt.mode || c.ApprovalTimeout != tt.want {
			t.Errorf("%s %q: mode %q timeout %s err %v", tt.mode, tt.timeout, c.ApprovalMode, c.ApprovalTimeout, err)
		}
	}
	for setting, bad := range map[string][]string{
		"APPROVAL_MODE":    {"Admins", "yes", "some"},
		"APPROVAL_TIMEOUT": {"60", "0s", "-1h", "1 hour"},
	} {
		for _, v := range bad {
			_, err := Load(env(map[string]string{setting: v}), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), setting) {
				t.Errorf("%s=%q: %v, want a message naming the setting", setting, v, err)
			}
		}
	}
}
func TestStepDeadlineIsAPositiveGoDuration(t *testing.T) {
	c, err := Load(env(nil), t.TempDir())
	if err != nil || c.StepDeadline != time.Hour {
		t.Fatalf("default: %v, %v (want 1h)", c.StepDeadline, err)
	}
	if c, err := Load(env(map[string]string{"STEP_DEADLINE": "90m"}), t.TempDir()); err != nil || c.StepDeadline != 90*time.Minute {
		t.Fatalf("90m: %v, %v", c.StepDeadline, err)
	}
	for _, bad := range []string{"60", "-1h", "0s", "soon"} {
		if _, err := Load(env(map[string]string{"STEP_DEADLINE": bad}), t.TempDir()); err == nil || !strings.Contains(err.Error(), "STEP_DEADLINE") {
			t.Errorf("STEP_DEADLINE=%q: %v", bad, err)
		}
	}
}

func TestQueueSettingsComeFromHostJSON(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "host.json"), []byte(`{"extensions":{"queues":{"maxDequeueCount":7,"visibilityTimeout":"00:00:12"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(nil), dir)
	if err != nil || c.MaxDequeueCount != 7 || c.RedeliveryDelay != 12*time.Second {
		t.Fatalf("MaxDequeueCount %d, RedeliveryDelay %v, %v; want host.json's 7 and 12s", c.MaxDequeueCount, c.RedeliveryDelay, err)
	}
}

// TestTheRepositoryHostJSONRetriesForMinutes: the committed host.json spreads a failing
// message's deliveries over minutes (a real outage), while throttling is deferred and uses
// none of them (contract 6.2).
func TestTheRepositoryHostJSONRetriesForMinutes(t *testing.T) {
	q := ReadHostQueues(filepath.Join("..", ".."))
	if q.VisibilityTimeout < 10*time.Second || q.MaxDequeueCount < 5 {
		t.Fatalf("host.json: %+v", q)
	}
	if window := time.Duration(q.MaxDequeueCount-1) * q.VisibilityTimeout; window < 3*time.Minute {
		t.Errorf("deliveries span %v; want at least 3 minutes to ride out an outage", window)
	}
}

func TestInvestigationReasonRequiredIsOffByDefaultAndStrict(t *testing.T) {
	for value, want := range map[string]bool{"": false, "false": false, "FALSE": false, "true": true, " True ": true} {
		c, err := Load(env(map[string]string{"INVESTIGATION_REASON_REQUIRED": value}), t.TempDir())
		if err != nil || c.InvestigationReasonRequired != want {
			t.Errorf("INVESTIGATION_REASON_REQUIRED=%q: %v, %v; want %v", value, c.InvestigationReasonRequired, err, want)
		}
	}
	// A value that is neither stops the handler at start, rather than silently meaning off.
	for _, bad := range []string{"yes", "1", "on", "treu"} {
		if _, err := Load(env(map[string]string{"INVESTIGATION_REASON_REQUIRED": bad}), t.TempDir()); err == nil || !strings.Contains(err.Error(), "INVESTIGATION_REASON_REQUIRED") {
			t.Errorf("INVESTIGATION_REASON_REQUIRED=%q: %v, want an error naming the setting", bad, err)
		}
	}
}

func TestTriageTrustedAlerts(t *testing.T) {
	c, err := Load(env(map[string]string{"TRIAGE_TRUSTED_ALERTS": " Microsoft Sentinel|Contoso - inbox rule to RSS feeds ; *|Suspected Brute Force attack (Kerberos, NTLM);"}), t.TempDir())
	if err != nil || len(c.TriageTrustedAlerts) != 2 || c.TriageTrustedAlerts[1] != "*|Suspected Brute Force attack (Kerberos, NTLM)" {
		t.Fatalf("TriageTrustedAlerts = %q, %v; want the two entries, commas kept", c.TriageTrustedAlerts, err)
	}
	for _, bad := range []string{"Contoso rule", "|no product", "Microsoft Sentinel|"} {
		if _, err := Load(env(map[string]string{"TRIAGE_TRUSTED_ALERTS": bad}), t.TempDir()); err == nil || !strings.Contains(err.Error(), "TRIAGE_TRUSTED_ALERTS") {
			t.Errorf("%q: %v, want a message naming the setting", bad, err)
		}
	}
}
