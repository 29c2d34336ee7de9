package hostemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	// The host polls the handler's root every 25 ms and gives it 60 s to answer.
	readinessPollInterval = 25 * time.Millisecond
	readinessTimeout      = 60 * time.Second
	// terminateGrace is how long Stop lets the handler shut down after SIGTERM.
	terminateGrace = 10 * time.Second
)

// worker is the custom handler process. It can be killed and started again on the same
// port, as the host restarts a crashed worker.
type worker struct {
	executable string
	dir        string
	args       []string
	env        []string
	port       int
	output     io.Writer

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopping bool // the current process is being killed or terminated on purpose
}

func (w *worker) baseURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(w.port)
}

// start runs the executable and waits until it answers HTTP on its port.
func (w *worker) start(ctx context.Context) error {
	w.mu.Lock()
	if w.cmd != nil && !isClosed(w.exited) {
		w.mu.Unlock()
		return errors.New("handler is already running")
	}
	// Not exec.CommandContext: ctx bounds the start, the process must outlive it.
	cmd := exec.Command(w.executable, w.args...)
	cmd.Dir = w.dir
	cmd.Env = append(append([]string(nil), w.env...), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(w.port))
	cmd.Stdout = w.output
	cmd.Stderr = w.output
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		w.mu.Unlock()
		return fmt.Errorf("start handler %s: %w", w.executable, err)
	}
	exited := make(chan struct{})
	w.cmd, w.exited, w.waitErr, w.stopping = cmd, exited, nil, false
	w.mu.Unlock()

	go func() {
		err := cmd.Wait()
		w.mu.Lock()
		w.waitErr = err
		unexpected := !w.stopping
		w.mu.Unlock()
		close(exited)
		if unexpected {
			fmt.Fprintf(w.output, "hostemu: handler exited unexpectedly: %v\n", err)
		}
	}()

	readyCtx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	if err := waitUntilAnswering(readyCtx, w.baseURL()+"/", exited); err != nil {
		_ = w.kill()
		return fmt.Errorf("handler not ready: %w", err)
	}
	return nil
}

// waitUntilAnswering polls url until any HTTP answer (even 404) comes back, as the host
// does; a refused connection means "not yet".
func waitUntilAnswering(ctx context.Context, url string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("handler exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("no answer on %s: %w", url, ctx.Err())
		case <-time.After(readinessPollInterval):
		}
	}
}

// kill sends SIGKILL to the handler's process group and waits for it to end.
func (w *worker) kill() error {
	return w.signalAndWait(syscall.SIGKILL, 0)
}

// terminate sends SIGTERM, and SIGKILL if the handler has not ended within grace.
func (w *worker) terminate(grace time.Duration) error {
	return w.signalAndWait(syscall.SIGTERM, grace)
}

func (w *worker) signalAndWait(sig syscall.Signal, grace time.Duration) error {
	w.mu.Lock()
	cmd, exited := w.cmd, w.exited
	if cmd == nil || isClosed(exited) {
		w.mu.Unlock()
		return nil
	}
	w.stopping = true
	w.mu.Unlock()

	pgid := -cmd.Process.Pid // Setpgid: the negative pid is the whole group
	if err := syscall.Kill(pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal handler: %w", err)
	}
	if sig != syscall.SIGKILL {
		select {
		case <-exited:
			return nil
		case <-time.After(grace):
			if err := syscall.Kill(pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("kill handler: %w", err)
			}
		}
	}
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("handler process %d did not exit after SIGKILL", cmd.Process.Pid)
	}
}

// exitedUnexpectedly reports a handler that ended without kill or terminate.
func (w *worker) exitedUnexpectedly() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil || w.stopping || !isClosed(w.exited) {
		return nil
	}
	return fmt.Errorf("handler exited: %v", w.waitErr)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// pid is the running handler's process id, 0 when none runs.
func (w *worker) pid() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil || w.cmd.Process == nil || isClosed(w.exited) {
		return 0
	}
	return w.cmd.Process.Pid
}
