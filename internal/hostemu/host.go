// Package hostemu is a small Azure Functions host for integration tests of the custom
// handler. It reads an app root (host.json and one folder per function holding
// function.json), runs the handler executable the way the host does, forwards HTTP
// requests to it, and delivers queue messages (from Azurite) and timer firings with the
// host's envelopes, retry and poison-queue rules (as azure-functions-host's
// Workers/Http code does). Only what Tourniquet uses is emulated: HTTP functions must be
// forwarded http-in/http-out ones, timers fire only through FireTimer, function keys
// are not checked, and a message's visibility is not renewed during long invocations.
package hostemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

const (
	defaultPollInterval = 50 * time.Millisecond
	// stopDrainTimeout is how long Stop lets in-flight invocations finish before it
	// cancels them.
	stopDrainTimeout = 10 * time.Second
)

// Options configure Start.
type Options struct {
	// AppRoot holds host.json, the function folders and the handler executable.
	AppRoot string
	// Env is extra environment for the handler (KEY=VALUE) on top of os.Environ(); it
	// also resolves %NAME% references in function.json.
	Env []string
	// StorageConnectionString is the storage account for queue triggers (Azurite). The
	// handler gets it as AzureWebJobsStorage unless Env sets that.
	StorageConnectionString string
	// PollInterval is the pause between polls of an empty queue; default 50 ms.
	PollInterval time.Duration
	// Output receives the handler's stdout and stderr and the emulator's own notes;
	// default discard. Errors quote its latest part either way.
	Output io.Writer
}

// Host is a running emulated Functions host.
type Host struct {
	opts   Options
	app    *appConfig
	log    *logWriter
	worker *worker
	client *http.Client
	ready  *gate

	front    *http.Server
	frontURL string

	queueService *azqueue.ServiceClient
	watched      []*azqueue.QueueClient
	stopPolling  context.CancelFunc
	pollers      sync.WaitGroup

	// invokeCtx outlives the pollers so that Stop can let invocations finish.
	invokeCtx    context.Context
	cancelInvoke context.CancelFunc
	running      sync.WaitGroup
	inflight     atomic.Int64

	mu      sync.Mutex
	history []Invocation

	stopOnce sync.Once
	stopErr  error
}

// Start reads the app root, starts the handler and waits until it answers, creates the
// trigger queues (and their -poison queues), starts one poller per queue function and
// the front HTTP server. ctx bounds the start only.
func Start(ctx context.Context, opts Options) (*Host, error) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	env := handlerEnv(opts)
	app, err := loadApp(opts.AppRoot, envLookup(env))
	if err != nil {
		return nil, fmt.Errorf("hostemu.Start: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("hostemu.Start: %w", err)
	}
	log := newLogWriter(opts.Output)
	h := &Host{
		opts: opts,
		app:  app,
		log:  log,
		worker: &worker{
			executable: app.executable, dir: app.workingDir, args: app.arguments,
			env: env, port: port, output: log,
		},
		client: &http.Client{
			// Answers go back to the caller as they are: no redirects followed, no
			// transparent gzip.
			Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ready: newGate(),
	}
	h.invokeCtx, h.cancelInvoke = context.WithCancel(context.Background())

	if err := h.connectQueues(ctx); err != nil {
		h.cancelInvoke()
		return nil, fmt.Errorf("hostemu.Start: %w", err)
	}
	if err := h.worker.start(ctx); err != nil {
		h.cancelInvoke()
		return nil, fmt.Errorf("hostemu.Start: %w; handler output:\n%s", err, log.Tail())
	}
	h.ready.openGate()
	if err := h.startFront(); err != nil {
		_ = h.Stop()
		return nil, fmt.Errorf("hostemu.Start: %w", err)
	}
	h.startPollers()
	return h, nil
}

// handlerEnv is the handler's environment: ours, AzureWebJobsStorage, then opts.Env
// (later entries win).
func handlerEnv(opts Options) []string {
	env := os.Environ()
	if opts.StorageConnectionString != "" && !setsVariable(opts.Env, "AzureWebJobsStorage") {
		env = append(env, "AzureWebJobsStorage="+opts.StorageConnectionString)
	}
	return append(env, opts.Env...)
}

func setsVariable(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// envLookup finds a variable in env; the last entry wins, as in exec.
func envLookup(env []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
}

func (h *Host) connectQueues(ctx context.Context) error {
	var queueFunctions []*function
	for _, fn := range h.app.functions {
		if fn.kind == queueTrigger {
			queueFunctions = append(queueFunctions, fn)
		}
	}
	if len(queueFunctions) == 0 {
		return nil
	}
	if h.opts.StorageConnectionString == "" {
		return errors.New("queue-triggered functions need Options.StorageConnectionString")
	}
	svc, err := azqueue.NewServiceClientFromConnectionString(h.opts.StorageConnectionString, nil)
	if err != nil {
		return fmt.Errorf("queue service: %w", err)
	}
	if err := ensureQueues(ctx, svc, queueFunctions); err != nil {
		return err
	}
	h.queueService = svc
	return nil
}

func (h *Host) startFront() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("front server: %w", err)
	}
	h.front = &http.Server{Handler: http.HandlerFunc(h.serveFront), ReadHeaderTimeout: 10 * time.Second}
	h.frontURL = "http://" + ln.Addr().String()
	go func() {
		if err := h.front.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(h.log, "hostemu: front server: %v\n", err)
		}
	}()
	return nil
}

func (h *Host) startPollers() {
	var ctx context.Context
	ctx, h.stopPolling = context.WithCancel(context.Background())
	for _, fn := range h.app.functions {
		if fn.kind != queueTrigger {
			continue
		}
		l := &queueListener{
			host:   h,
			fn:     fn,
			queue:  h.queueService.NewQueueClient(fn.queueName),
			poison: h.queueService.NewQueueClient(fn.queueName + poisonSuffix),
		}
		h.watched = append(h.watched, l.queue)
		h.pollers.Add(1)
		go func() {
			defer h.pollers.Done()
			l.run(ctx)
		}()
	}
}

// URL is the front server's root, e.g. http://127.0.0.1:41234; HTTP functions live under
// URL()+"/api/<route>".
func (h *Host) URL() string { return h.frontURL }

// Invocations returns every delivery so far, oldest first.
func (h *Host) Invocations() []Invocation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Invocation(nil), h.history...)
}

func (h *Host) record(inv Invocation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history = append(h.history, inv)
}

// Output returns the latest handler and emulator output.
func (h *Host) Output() string { return h.log.Tail() }

// Kill crashes the handler with SIGKILL. Pollers pause until Restart; messages whose
// invocation was cut off fail and become visible again after host.json's
// visibilityTimeout (or go to the poison queue on their last allowed delivery).
func (h *Host) Kill() error {
	h.ready.closeGate()
	if err := h.worker.kill(); err != nil {
		return fmt.Errorf("hostemu.Kill: %w", err)
	}
	h.client.CloseIdleConnections()
	return nil
}

// Restart starts the handler again on the same port, waits until it answers, and
// resumes the pollers.
func (h *Host) Restart(ctx context.Context) error {
	if err := h.worker.start(ctx); err != nil {
		return fmt.Errorf("hostemu.Restart: %w; handler output:\n%s", err, h.log.Tail())
	}
	h.client.CloseIdleConnections()
	h.ready.openGate()
	return nil
}

// WaitIdle polls until every watched queue (poison queues aside) is empty and no
// invocation is in flight, twice in a row. It fails early when the handler died
// without Kill.
func (h *Host) WaitIdle(ctx context.Context) error {
	idleRounds := 0
	for {
		if err := h.worker.exitedUnexpectedly(); err != nil {
			return fmt.Errorf("hostemu.WaitIdle: %w; handler output:\n%s", err, h.log.Tail())
		}
		idle, err := h.idle(ctx)
		if err != nil {
			return fmt.Errorf("hostemu.WaitIdle: %w", err)
		}
		if idle {
			idleRounds++
		} else {
			idleRounds = 0
		}
		if idleRounds == 2 {
			return nil
		}
		if !sleep(ctx, h.opts.PollInterval) {
			return fmt.Errorf("hostemu.WaitIdle: %w (%d invocations in flight)", ctx.Err(), h.inflight.Load())
		}
	}
}

func (h *Host) idle(ctx context.Context) (bool, error) {
	if h.inflight.Load() > 0 {
		return false, nil
	}
	for _, q := range h.watched {
		n, err := queueLength(ctx, q)
		if err != nil {
			return false, fmt.Errorf("queue length: %w", err)
		}
		if n > 0 {
			return false, nil
		}
	}
	return h.inflight.Load() == 0, nil
}

// Stop stops the pollers, lets in-flight invocations finish (canceling them after a
// grace period; their messages are released), terminates the handler with SIGTERM and
// closes the front server. It is safe to call more than once.
func (h *Host) Stop() error {
	h.stopOnce.Do(func() {
		if h.stopPolling != nil {
			h.stopPolling()
		}
		h.pollers.Wait()

		drained := make(chan struct{})
		go func() {
			h.running.Wait()
			close(drained)
		}()
		select {
		case <-drained:
		case <-time.After(stopDrainTimeout):
			h.cancelInvoke()
			<-drained
		}
		h.cancelInvoke()

		var errs []error
		if err := h.worker.terminate(terminateGrace); err != nil {
			errs = append(errs, err)
		}
		if h.front != nil {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := h.front.Shutdown(shutdownCtx); err != nil {
				errs = append(errs, fmt.Errorf("front server: %w", err))
			}
		}
		h.client.CloseIdleConnections()
		if err := errors.Join(errs...); err != nil {
			h.stopErr = fmt.Errorf("hostemu.Stop: %w", err)
		}
	})
	return h.stopErr
}

// freePort asks the kernel for a free loopback port for the handler. Another process
// could take it before the handler binds it; unlikely enough for tests.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// HandlerPID is the process id of the running handler (0 when none runs), for benchmarks
// that read its memory from /proc.
func (h *Host) HandlerPID() int { return h.worker.pid() }
