// Package config reads Tourniquet's settings (contract section 8) once, at start, and
// validates them.
package config

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/triage"
)

// Config is every setting of the handler.
type Config struct {
	Port string // FUNCTIONS_CUSTOMHANDLER_PORT: where the handler listens (set by the host)

	// Storage: a connection string, or identity-based service URIs / account name.
	StorageConnectionString string // AzureWebJobsStorage
	TableServiceURI         string // AzureWebJobsStorage__tableServiceUri (or derived from __accountName)
	QueueServiceURI         string // AzureWebJobsStorage__queueServiceUri (or derived from __accountName)
	TablePrefix             string // TOURNIQUET_TABLE_PREFIX: run-record table names start with it

	TenantID        string // AZURE_TENANT_ID: Exchange endpoint path
	ClientID        string // AZURE_CLIENT_ID: user-assigned managed identity, if any
	GraphBaseURL    string // GRAPH_BASE_URL
	ExchangeBaseURL string // EXCHANGE_BASE_URL

	Protected     []string // PROTECTED_ACCOUNTS: never changed (break-glass accounts)
	MaxPerHour    int      // MAX_REMEDIATIONS_PER_HOUR: tenant-wide rate limit
	SweepSchedule string   // SWEEP_SCHEDULE: read by the host from function.json (%SWEEP_SCHEDULE%)
	SweepMode     string   // SWEEP_MODE: report | remediate
	SweepMaxUsers int      // SWEEP_MAX_USERS
	AuthMode      string   // AUTH_MODE: functionkey | easyauth
	// RecordKey (TOURNIQUET_RECORD_KEY, base64 of at least 32 bytes; on Azure a Key Vault
	// reference) seals the restorable changes of a run; empty: a random key for this process.
	RecordKey []byte

	// ApprovalMode (APPROVAL_MODE: none | admins | all) says which runs wait for a second
	// person before they change anything; ApprovalTimeout (APPROVAL_TIMEOUT, a Go duration)
	// is how long an undecided run waits before it ends expired (contract 6.1).
	ApprovalMode    string
	ApprovalTimeout time.Duration

	MaxDequeueCount int // host.json extensions.queues.maxDequeueCount
	// RedeliveryDelay is host.json's extensions.queues.visibilityTimeout: how long a
	// message whose delivery failed waits before the host delivers it again.
	RedeliveryDelay time.Duration

	// StepDeadline (STEP_DEADLINE, a Go duration, default 1h) bounds how long after its run
	// started a throttled step may still be deferred (contract 6.2).
	StepDeadline time.Duration

	// WatchDefault (WATCH_DEFAULT, a Go duration from 10s to 72h; empty or "off": none) is
	// the eviction watch every run that changes the tenant gets; WatchInterval
	// (WATCH_INTERVAL, default 15m) is how often a watch checks (contract 1.3).
	WatchDefault  time.Duration
	WatchInterval time.Duration

	// InvestigationReasonRequired (INVESTIGATION_REASON_REQUIRED: true | false, default
	// false) refuses an investigate-only run without a reason: such a run only reads a
	// person's sign-ins and mail trace, so it must say why. Off by default because the
	// contract makes reason optional; the Bicep deployment turns it on.
	InvestigationReasonRequired bool

	// TriageTrustedAlerts (TRIAGE_TRUSTED_ALERTS, ";"-separated "<productName>|<alert name>")
	// are alerts POST /api/triage/sentinel trusts, besides its built-in list, to name a
	// compromised account (package triage).
	TriageTrustedAlerts []string
}

// Settings lists every environment setting the handler reads (the consistency test holds
// local.settings.json.example against it).
var Settings = []string{
	"FUNCTIONS_CUSTOMHANDLER_PORT", "AzureWebJobsStorage", "AzureWebJobsStorage__tableServiceUri",
	"AzureWebJobsStorage__queueServiceUri", "AzureWebJobsStorage__accountName", "TOURNIQUET_TABLE_PREFIX",
	"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "GRAPH_BASE_URL", "EXCHANGE_BASE_URL", "PROTECTED_ACCOUNTS",
	"MAX_REMEDIATIONS_PER_HOUR", "SWEEP_SCHEDULE", "SWEEP_MODE", "SWEEP_MAX_USERS", "AUTH_MODE",
	"WEBSITE_AUTH_ENABLED", "TOURNIQUET_RECORD_KEY", "APPROVAL_MODE", "APPROVAL_TIMEOUT", "STEP_DEADLINE",
	"WATCH_DEFAULT", "WATCH_INTERVAL", "INVESTIGATION_REASON_REQUIRED", "TRIAGE_TRUSTED_ALERTS",
}

// Load reads the settings from getenv and host.json in appRoot.
func Load(getenv func(string) string, appRoot string) (Config, error) {
	c := Config{
		Port:                    or(getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), "8080"),
		StorageConnectionString: getenv("AzureWebJobsStorage"),
		TableServiceURI:         getenv("AzureWebJobsStorage__tableServiceUri"),
		QueueServiceURI:         getenv("AzureWebJobsStorage__queueServiceUri"),
		TablePrefix:             or(getenv("TOURNIQUET_TABLE_PREFIX"), "Tourniquet"),
		TenantID:                getenv("AZURE_TENANT_ID"),
		ClientID:                getenv("AZURE_CLIENT_ID"),
		GraphBaseURL:            strings.TrimRight(or(getenv("GRAPH_BASE_URL"), "https://graph.microsoft.com/v1.0"), "/"),
		ExchangeBaseURL:         strings.TrimRight(or(getenv("EXCHANGE_BASE_URL"), "https://outlook.office365.com/adminapi/beta"), "/"),
		SweepSchedule:           or(getenv("SWEEP_SCHEDULE"), "0 */15 * * * *"),
		SweepMode:               or(getenv("SWEEP_MODE"), "report"),
		AuthMode:                or(getenv("AUTH_MODE"), "functionkey"),
		ApprovalMode:            or(getenv("APPROVAL_MODE"), "none"),
	}
	if account := getenv("AzureWebJobsStorage__accountName"); account != "" {
		if c.TableServiceURI == "" {
			c.TableServiceURI = "https://" + account + ".table.core.windows.net"
		}
		if c.QueueServiceURI == "" {
			c.QueueServiceURI = "https://" + account + ".queue.core.windows.net"
		}
	}
	for _, p := range strings.Split(getenv("PROTECTED_ACCOUNTS"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Protected = append(c.Protected, p)
		}
	}
	var err error
	if c.MaxPerHour, err = intSetting(getenv, "MAX_REMEDIATIONS_PER_HOUR", 20); err != nil {
		return c, err
	}
	if c.SweepMaxUsers, err = intSetting(getenv, "SWEEP_MAX_USERS", 10); err != nil {
		return c, err
	}
	if c.WatchInterval, err = durationSetting(getenv, "WATCH_INTERVAL", 15*time.Minute); err != nil {
		return c, err
	}
	if raw := strings.TrimSpace(getenv("WATCH_DEFAULT")); raw != "" && !strings.EqualFold(raw, "off") {
		d, err := time.ParseDuration(raw)
		if err != nil || d < 10*time.Second || d > 72*time.Hour {
			return c, fmt.Errorf("config: WATCH_DEFAULT must be a Go duration from 10s to 72h (e.g. 24h), or off, not %q", raw)
		}
		c.WatchDefault = d
	}
	for _, entry := range strings.Split(getenv("TRIAGE_TRUSTED_ALERTS"), ";") {
		if entry = strings.TrimSpace(entry); entry != "" {
			c.TriageTrustedAlerts = append(c.TriageTrustedAlerts, entry)
		}
	}
	if _, invalid := triage.NewTable(c.TriageTrustedAlerts); len(invalid) > 0 {
		return c, fmt.Errorf("config: TRIAGE_TRUSTED_ALERTS entries are <productName>|<alert name>, separated by ';' (e.g. Microsoft Sentinel|My rule), not %q", invalid[0])
	}
	if c.StepDeadline, err = durationSetting(getenv, "STEP_DEADLINE", time.Hour); err != nil {
		return c, err
	}
	switch raw := strings.TrimSpace(getenv("INVESTIGATION_REASON_REQUIRED")); strings.ToLower(raw) {
	case "", "false":
	case "true":
		c.InvestigationReasonRequired = true
	default:
		return c, fmt.Errorf("config: INVESTIGATION_REASON_REQUIRED must be true or false, not %q", raw)
	}
	switch c.SweepMode {
	case "report", "remediate":
	default:
		return c, fmt.Errorf("config: SWEEP_MODE must be report or remediate, not %q", c.SweepMode)
	}
	switch c.AuthMode {
	case "functionkey":
	case "easyauth":
		// The principal headers are trustworthy only when App Service authentication strips
		// and sets them; without it anyone could claim any identity and role.
		if !strings.EqualFold(strings.TrimSpace(getenv("WEBSITE_AUTH_ENABLED")), "true") {
			return c, fmt.Errorf("config: AUTH_MODE=easyauth needs App Service authentication turned on (WEBSITE_AUTH_ENABLED=True): without it anyone can send X-MS-CLIENT-PRINCIPAL headers and claim any identity and app role")
		}
	default:
		return c, fmt.Errorf("config: AUTH_MODE must be functionkey or easyauth, not %q", c.AuthMode)
	}
	switch c.ApprovalMode {
	case "none", "admins", "all":
	default:
		return c, fmt.Errorf("config: APPROVAL_MODE must be none, admins or all, not %q", c.ApprovalMode)
	}
	c.ApprovalTimeout = time.Hour
	if raw := strings.TrimSpace(getenv("APPROVAL_TIMEOUT")); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("config: APPROVAL_TIMEOUT must be a positive Go duration such as 1h or 30m, not %q", raw)
		}
		c.ApprovalTimeout = d
	}
	if raw := strings.TrimSpace(getenv("TOURNIQUET_RECORD_KEY")); raw != "" {
		key, err := base64.StdEncoding.DecodeString(raw)
		if err != nil || len(key) < 32 {
			return c, fmt.Errorf("config: TOURNIQUET_RECORD_KEY must be base64 of at least 32 random bytes (e.g. openssl rand -base64 32)")
		}
		c.RecordKey = key
	}
	if c.StorageConnectionString == "" && (c.TableServiceURI == "" || c.QueueServiceURI == "") {
		return c, fmt.Errorf("config: set AzureWebJobsStorage, or AzureWebJobsStorage__accountName (or both __tableServiceUri and __queueServiceUri)")
	}
	if c.TenantID == "" {
		return c, fmt.Errorf("config: AZURE_TENANT_ID is required (Exchange Online endpoint path)")
	}
	if err := checkServiceURL(c.GraphBaseURL, graphHosts); err != nil {
		return c, fmt.Errorf("config: GRAPH_BASE_URL: %w", err)
	}
	if err := checkServiceURL(c.ExchangeBaseURL, exchangeHosts); err != nil {
		return c, fmt.Errorf("config: EXCHANGE_BASE_URL: %w", err)
	}
	queues := ReadHostQueues(appRoot)
	c.MaxDequeueCount, c.RedeliveryDelay = queues.MaxDequeueCount, queues.VisibilityTimeout
	return c, nil
}

// The tokens Tourniquet sends carry the power to reset any password of the tenant: they may
// go only to Microsoft's own service hosts, in the public and the national clouds, or to a
// loopback address (tests, the tenant simulator).
var (
	// Microsoft Graph service root endpoints (https://learn.microsoft.com/graph/deployments):
	// global; US Government L4 (GCC High); US Government L5 (DoD); China (21Vianet).
	graphHosts = []string{"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}
	// Exchange Online endpoints: the hosts Connect-ExchangeOnline uses per
	// -ExchangeEnvironmentName (O365Default outlook.office365.com, O365USGovGCCHigh
	// outlook.office365.us, O365USGovDoD webmail.apps.mil, O365China partner.outlook.cn;
	// https://learn.microsoft.com/powershell/module/exchange/connect-exchangeonline), the
	// commercial alias outlook.office.com, and outlook-dod.office365.us, which the DoD endpoint
	// list names next to webmail.apps.mil
	// (https://learn.microsoft.com/microsoft-365/enterprise/microsoft-365-u-s-government-dod-endpoints).
	exchangeHosts = []string{"outlook.office365.com", "outlook.office.com", "outlook.office365.us", "outlook-dod.office365.us", "webmail.apps.mil", "partner.outlook.cn"}
)

// checkServiceURL accepts https on one of hosts (default port only), or http/https on a
// loopback address. No user info, query or fragment: none belongs in a base URL, and
// "https://graph.microsoft.com@evil.example" names evil.example as its host.
func checkServiceURL(raw string, hosts []string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("%q: a base URL holds no user info, query or fragment", raw)
	}
	host := u.Hostname()
	if IsLoopback(host) {
		if u.Scheme == "http" || u.Scheme == "https" {
			return nil
		}
		return fmt.Errorf("%q: only http or https", raw)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%q: only https (plain http only on a loopback address)", raw)
	}
	if port := u.Port(); port != "" && port != "443" {
		return fmt.Errorf("%q: only the default https port", raw)
	}
	for _, h := range hosts {
		if strings.EqualFold(host, h) {
			return nil
		}
	}
	return fmt.Errorf("%q: the host must be one of %s, or a loopback address: the tokens must never go elsewhere", raw, strings.Join(hosts, ", "))
}

// IsLoopback reports whether host is localhost or a loopback address (127.0.0.0/8, ::1).
// "127.evil.example" is a name, not an address, and is not loopback.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func intSetting(getenv func(string) string, name string, def int) (int, error) {
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("config: %s must be a whole number >= 0, not %q", name, raw)
	}
	return n, nil
}

// durationSetting reads a Go duration ("90m", "1h30m") that must be positive.
func durationSetting(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("config: %s must be a positive Go duration such as 1h or 90m, not %q", name, raw)
	}
	return d, nil
}

// HostQueues is host.json's queue retry policy: how often a failed message is delivered
// and how long it stays invisible between deliveries.
type HostQueues struct {
	MaxDequeueCount   int           // extensions.queues.maxDequeueCount (host default 5)
	VisibilityTimeout time.Duration // extensions.queues.visibilityTimeout (host default 0)
}

// ReadHostQueues reads host.json in appRoot; missing or invalid values are the host's
// defaults. Tests read it too, instead of assuming a retry timing.
func ReadHostQueues(appRoot string) HostQueues {
	q := HostQueues{MaxDequeueCount: 5}
	data, err := os.ReadFile(filepath.Join(appRoot, "host.json"))
	if err != nil {
		return q
	}
	var h struct {
		Extensions struct {
			Queues struct {
				MaxDequeueCount   int    `json:"maxDequeueCount"`
				VisibilityTimeout string `json:"visibilityTimeout"`
			} `json:"queues"`
		} `json:"extensions"`
	}
	if json.Unmarshal(data, &h) != nil {
		return q
	}
	if n := h.Extensions.Queues.MaxDequeueCount; n > 0 {
		q.MaxDequeueCount = n
	}
	// A .NET TimeSpan "hh:mm:ss" (what host.json holds).
	var hh, mm, ss int
	if n, _ := fmt.Sscanf(h.Extensions.Queues.VisibilityTimeout, "%d:%d:%d", &hh, &mm, &ss); n == 3 {
		q.VisibilityTimeout = time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second
	}
	return q
}

// maxDequeueCount reads host.json's queue setting, so the handler knows a message's last
// delivery exactly as the host counts it (default 5, like the host).

func or(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}
