// Package azurite starts Azurite, the Azure Storage emulator, for tests and the local demo.
//
// Azurite comes from npm (package.json at the repository root pins it). Start runs it with
// in-memory persistence on free loopback ports, so every test binary can have its own
// throw-away storage account; Shared hands out one instance per test binary.
package azurite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds how long Start waits for Azurite to listen.
const startTimeout = 60 * time.Second

// Instance is a running (or externally provided) Azurite with table and queue services.
type Instance struct {
	// ConnectionString is accepted by both aztables and azqueue (explicit endpoints, not
	// UseDevelopmentStorage=true, which neither SDK understands).
	ConnectionString string
	// TableURL and QueueURL are the service URLs including the account path segment,
	// e.g. http://127.0.0.1:41002/devstoreaccount1.
	TableURL string
	QueueURL string

	// proc is nil for an instance that this package did not start (see Shared).
	proc     *exec.Cmd
	exited   chan struct{}
	output   *tailBuffer
	stopOnce sync.Once
	stopErr  error
}

// Start runs Azurite from node_modules (installing it with `npm ci` first when
// node_modules is missing) with table, queue and blob services on free loopback ports and
// waits until the table and queue ports accept connections. The blob service is not used
// but the single `azurite` binary always starts it, so it gets a free port too.
//
// ctx bounds the start only; the process keeps running until Stop.
func Start(ctx context.Context) (*Instance, error) {
	root, err := findPackageRoot()
	if err != nil {
		return nil, fmt.Errorf("azurite.Start: %w", err)
	}
	bin, err := ensureInstalled(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("azurite.Start: %w", err)
	}
	// A free port can be taken by another process (another test binary's Azurite, or an
	// outgoing connection) between freePorts and Azurite's bind: Azurite then exits, while the
	// readiness check may already have been answered by the other process. Such a start is
	// tried again on new ports.
	for attempt := 1; ; attempt++ {
		inst, err := start(ctx, bin)
		if !errors.Is(err, errLostPort) || attempt == 3 {
			return inst, err
		}
	}
}

// errLostPort: a port chosen for Azurite was taken by another process before Azurite bound
// it: Azurite exited right after its ports answered (the other process answered), or said
// EADDRINUSE before it listened.
var errLostPort = errors.New("a port chosen for azurite was taken by another process")

// lostPortIfInUse marks a start that failed because Azurite could not bind a port
// ("listen EADDRINUSE", node's error) as errLostPort, so it is tried on new ports.
func lostPortIfInUse(err error, output string) error {
	if strings.Contains(output, "EADDRINUSE") {
		return fmt.Errorf("%w: %w", errLostPort, err)
	}
	return err
}

// minStartup is less than Azurite (node) ever takes to listen: ports that answer sooner
// were answered by another process, and the start is judged after settleStartup.
const (
	minStartup    = 300 * time.Millisecond
	settleStartup = 2 * time.Second
)

func start(ctx context.Context, bin string) (*Instance, error) {
	begun := time.Now()
	ports, err := freePorts(3)
	if err != nil {
		return nil, fmt.Errorf("azurite.Start: %w", err)
	}
	blobPort, queuePort, tablePort := ports[0], ports[1], ports[2]

	output := newTailBuffer(16 << 10)
	// Not exec.CommandContext: ctx only bounds the start, the process must outlive it.
	cmd := exec.Command(bin,
		"--blobHost", loopbackHost, "--blobPort", strconv.Itoa(blobPort),
		"--queueHost", loopbackHost, "--queuePort", strconv.Itoa(queuePort),
		"--tableHost", loopbackHost, "--tablePort", strconv.Itoa(tablePort),
		"--inMemoryPersistence", "--silent", "--skipApiVersionCheck", "--disableTelemetry",
	)
	// With in-memory persistence Azurite writes no files; should a future version write
	// any into its working directory, they land in the temp dir, not the repository.
	cmd.Dir = os.TempDir()
	cmd.Stdout = output
	cmd.Stderr = output
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("azurite.Start: run %s: %w", bin, err)
	}

	inst := &Instance{
		ConnectionString: connectionString(tablePort, queuePort),
		TableURL:         serviceURL(tablePort),
		QueueURL:         serviceURL(queuePort),
		proc:             cmd,
		exited:           make(chan struct{}),
		output:           output,
	}
	go func() {
		// Wait's error only says how the process ended; Stop kills it on purpose.
		_ = cmd.Wait()
		close(inst.exited)
	}()

	waitCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := waitForPorts(waitCtx, inst.exited, tablePort, queuePort); err != nil {
		_ = inst.Stop()
		return nil, fmt.Errorf("azurite.Start: %w; azurite output:\n%s", lostPortIfInUse(err, output.String()), output.String())
	}
	if time.Since(begun) < minStartup {
		select {
		case <-inst.exited:
		case <-time.After(settleStartup - time.Since(begun)):
		}
	}
	select {
	case <-inst.exited:
		return nil, fmt.Errorf("azurite.Start: %w; azurite output:\n%s", errLostPort, output.String())
	default:
	}
	return inst, nil
}

// Stop kills Azurite's process group and waits for it to end. It is a no-op for an
// instance this package did not start, and safe to call more than once.
func (i *Instance) Stop() error {
	if i == nil || i.proc == nil {
		return nil
	}
	i.stopOnce.Do(func() {
		i.stopErr = i.kill()
	})
	return i.stopErr
}

func (i *Instance) kill() error {
	select {
	case <-i.exited:
		return nil
	default:
	}
	// The negative pid addresses the whole process group (Setpgid in childProcAttr).
	if err := syscall.Kill(-i.proc.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("azurite.Stop: kill process group %d: %w", i.proc.Process.Pid, err)
	}
	select {
	case <-i.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("azurite.Stop: process %d did not exit after SIGKILL", i.proc.Process.Pid)
	}
}

// Output returns the last part of Azurite's console output (empty for an instance this
// package did not start).
func (i *Instance) Output() string {
	if i == nil || i.output == nil {
		return ""
	}
	return i.output.String()
}
