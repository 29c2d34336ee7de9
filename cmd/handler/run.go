package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/tourniquet/tourniquet/internal/config"
	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/identity"
	"github.com/tourniquet/tourniquet/internal/logevent"
	"github.com/tourniquet/tourniquet/internal/preflight"
	"github.com/tourniquet/tourniquet/internal/queues"
	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/server"
	"github.com/tourniquet/tourniquet/internal/steps"
	"github.com/tourniquet/tourniquet/internal/throttle"
	"github.com/tourniquet/tourniquet/internal/triage"
)

// run wires the handler from its settings and serves until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	log := slog.New(logevent.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	appRoot, err := os.Getwd()
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv, appRoot)
	if err != nil {
		return err
	}
	cred, err := identity.NewCredential(getenv)
	if err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	tables, queueSvc, err := storageClients(cfg, cred)
	if err != nil {
		return err
	}
	// The store makes no call until it is used, so the handler answers the host's readiness
	// poll at once; the tables are created in the background meanwhile. While storage is
	// unreachable, /api/health says so and requests that need a record answer 503.
	store := runs.New(tables, cfg.TablePrefix)
	store.Log = log
	// Every instance honours the tenant's shared "not before" of each service, so a 429 told
	// to one instance holds the others back too.
	graphGate := &throttle.Gate{Service: "graph", Shared: store}
	exchangeGate := &throttle.Gate{Service: "exchange", Shared: store}
	directory, err := graph.New(graph.Options{BaseURL: cfg.GraphBaseURL, Credential: cred, HTTPClient: graphGate.HTTPClient(0)})
	if err != nil {
		return fmt.Errorf("graph client: %w", err)
	}
	mailboxes, err := exchange.New(exchange.Options{BaseURL: cfg.ExchangeBaseURL, TenantID: cfg.TenantID, Credential: cred,
		HTTPClient: exchangeGate.HTTPClient(35 * time.Second)})
	if err != nil {
		return fmt.Errorf("exchange client: %w", err)
	}
	go func() {
		if err := store.Ping(ctx); err != nil {
			log.Error("run-record store not ready", "err", err)
		}
	}()
	recordKeySet := len(cfg.RecordKey) > 0
	if !recordKeySet {
		// Seals then hold only in this process: a restore after a restart, or on another
		// instance, grants nothing (each item fails with a seal mismatch). Safe, not useful.
		cfg.RecordKey = remediation.NewRecordKey()
		log.Warn("TOURNIQUET_RECORD_KEY is not set: restorable changes are sealed with a key of this process only, so restores work only until it stops; set it (a Key Vault reference) so restores verify on every instance")
	}
	// Run records are sealed under the same setting (a key derived from it): a record written
	// by anyone without it is never acted on (runs/integrity.go).
	store.SetRecordKey(cfg.RecordKey)
	service := &remediation.Service{
		Store:  store,
		Runner: &steps.Runner{Directory: directory, Mailboxes: mailboxes, Locker: store, AuditLogs: directory, MailLogs: mailboxes},
		Queue:  queues.New(queueSvc),
		Config: remediation.Config{
			Protected: cfg.Protected, MaxPerHour: cfg.MaxPerHour, MaxDequeueCount: cfg.MaxDequeueCount, RedeliveryDelay: cfg.RedeliveryDelay,
			SweepMode: cfg.SweepMode, SweepMaxUsers: cfg.SweepMaxUsers, RecordKey: cfg.RecordKey, RecordKeySet: recordKeySet, StepDeadline: cfg.StepDeadline,
			ApprovalMode: cfg.ApprovalMode, ApprovalTimeout: cfg.ApprovalTimeout,
			WatchDefault: cfg.WatchDefault, WatchInterval: cfg.WatchInterval,
			InvestigationReasonRequired: cfg.InvestigationReasonRequired,
		},
		Log: log,
	}
	if len(cfg.Protected) == 0 {
		log.Warn("PROTECTED_ACCOUNTS is empty: no break-glass account is exempt from remediation; name at least one account that holds Global Administrator (GET /api/health reports degraded until then)")
	}
	if len(cfg.Protected) > 0 {
		// Resolved in the background so the host's readiness poll is answered at once; each
		// entry that does not resolve is logged, and /api/health counts it.
		go func() {
			st := service.ResolveProtected(ctx)
			log.Info("protected accounts resolved", "resolved", st.Resolved, "unresolved", st.Unresolved)
		}()
	}
	checker := &preflight.Checker{
		Credential: cred, Directory: directory, Mailboxes: mailboxes,
		GraphScope: graph.Scope, ExchangeScope: exchange.Scope,
		Settings: preflight.Settings{
			RecordKeySet: recordKeySet, AuthMode: cfg.AuthMode, WebsiteAuthEnabled: strings.EqualFold(getenv("WEBSITE_AUTH_ENABLED"), "true"),
			ApprovalMode: cfg.ApprovalMode, SweepMode: cfg.SweepMode, Protected: service.ProtectedGlobalAdmins,
		},
	}
	triageTable, _ := triage.NewTable(cfg.TriageTrustedAlerts) // config.Load refused invalid entries
	handler := server.New(service, store, cfg.AuthMode, log, server.WithPreflight(checker), server.WithTriageTable(triageTable))

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", cfg.Port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	log.Info("handler listening", "addr", ln.Addr().String(), "authMode", cfg.AuthMode, "sweepMode", cfg.SweepMode, "approvalMode", cfg.ApprovalMode)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// storageRetry retries passing storage failures briefly (the SDK's default waits up to
// about 6 s per call), so a caller learns within a second or two that the run-record store
// is unreachable (503) instead of waiting on a request that cannot be recorded.
var storageRetry = policy.RetryOptions{MaxRetries: 2, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Second}

// storageClients connects to Table and Queue storage with the connection string, or with the
// managed identity when only service URIs (identity-based AzureWebJobsStorage__*) are set.
func storageClients(cfg config.Config, cred azcore.TokenCredential) (*aztables.ServiceClient, *azqueue.ServiceClient, error) {
	// ASCIIBodies: Azurite alters multi-byte characters of large bodies otherwise (see runs).
	tableOpts := &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: storageRetry, PerCallPolicies: []policy.Policy{runs.ASCIIBodies{}}}}
	queueOpts := &azqueue.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: storageRetry}}
	if cfg.StorageConnectionString != "" {
		t, err := aztables.NewServiceClientFromConnectionString(cfg.StorageConnectionString, tableOpts)
		if err != nil {
			return nil, nil, fmt.Errorf("table storage: %w", err)
		}
		q, err := azqueue.NewServiceClientFromConnectionString(cfg.StorageConnectionString, queueOpts)
		if err != nil {
			return nil, nil, fmt.Errorf("queue storage: %w", err)
		}
		return t, q, nil
	}
	t, err := aztables.NewServiceClient(cfg.TableServiceURI, cred, tableOpts)
	if err != nil {
		return nil, nil, fmt.Errorf("table storage: %w", err)
	}
	q, err := azqueue.NewServiceClient(cfg.QueueServiceURI, cred, queueOpts)
	if err != nil {
		return nil, nil, fmt.Errorf("queue storage: %w", err)
	}
	return t, q, nil
}
