// Command tourniquet is the analyst's command line: it starts, follows, restores, approves
// and reports remediations through Tourniquet's public HTTP API only. `tourniquet help`
// lists the commands and the exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
