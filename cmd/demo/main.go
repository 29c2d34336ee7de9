// Command demo remediates a seeded compromised account end to end: Azurite for storage, the
// built-in tenant simulator for Microsoft Graph and Exchange Online, and the real handler
// binary under the host emulator. It prints what the account looked like before, what each
// step changed and why, and what it looks like after. Run it with `make demo`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
