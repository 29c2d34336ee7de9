// Command tenantsim serves the in-memory Microsoft 365 tenant simulator (Graph, Exchange
// admin REST and the managed identity token endpoint) until SIGINT or SIGTERM. It prints
// one JSON line with the URLs and the identity header to point Tourniquet at.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tenantsim:", err)
		os.Exit(1)
	}
}

// endpoints is the JSON line printed once the simulator listens.
type endpoints struct {
	GraphURL         string `json:"graphUrl"`
	ExchangeURL      string `json:"exchangeUrl"`
	IdentityEndpoint string `json:"identityEndpoint"`
	IdentityHeader   string `json:"identityHeader"`
	TenantID         string `json:"tenantId"`
	DemoUser         string `json:"demoUser,omitempty"`
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", envOr(getenv, "TENANTSIM_ADDR", "127.0.0.1:0"), "listen address")
	seed := fs.String("seed", envOr(getenv, "TENANTSIM_SEED", ""), "tenant profile to seed ("+strings.Join(tenantsim.ProfileNames(), ", ")+"); empty leaves the tenant empty")
	tenantID := fs.String("tenant", "", "tenant id (default 00000000-0000-0000-0000-0000000000aa)")
	pageSize := fs.Int("page-size", 0, "items per page (default 2)")
	latency := fs.Duration("latency", 0, "latency added to every Graph/Exchange request")
	verbose := fs.Bool("v", false, "log every request (method, path, status) to stderr")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}

	opts := tenantsim.Options{TenantID: *tenantID, PageSize: *pageSize, Latency: *latency}
	if *verbose {
		logger := log.New(os.Stderr, "", log.LstdFlags)
		opts.Logf = logger.Printf
	}
	sim := tenantsim.New(opts)
	out := endpoints{}
	if *seed != "" {
		seeded, err := tenantsim.SeedProfile(sim, *seed)
		if err != nil {
			return fmt.Errorf("-seed: %w", err)
		}
		out.DemoUser = seeded.UPN
	}
	if _, err := sim.Listen(*addr); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer sim.Close()

	out.GraphURL, out.ExchangeURL = sim.GraphURL(), sim.ExchangeURL()
	out.IdentityEndpoint, out.IdentityHeader, out.TenantID = sim.IdentityEndpoint(), sim.IdentityHeader(), sim.TenantID()
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return fmt.Errorf("write endpoints: %w", err)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done() // the deferred Close drops requests still in flight
	return nil
}

func envOr(getenv func(string) string, name, fallback string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return fallback
}
