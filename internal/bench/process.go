package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tourniquet/tourniquet/internal/hostemu"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// HandlerEnv is the environment of a handler process talking to sim and the storage
// account of connectionString, with its own run-record tables (prefix).
func HandlerEnv(sim *tenantsim.Sim, connectionString, prefix string, extra ...string) []string {
	return append([]string{
		"AzureWebJobsStorage=" + connectionString,
		"TOURNIQUET_TABLE_PREFIX=" + prefix,
		"AZURE_TENANT_ID=" + sim.TenantID(),
		"GRAPH_BASE_URL=" + sim.GraphURL(),
		"EXCHANGE_BASE_URL=" + sim.ExchangeURL(),
		"IDENTITY_ENDPOINT=" + sim.IdentityEndpoint(),
		"IDENTITY_HEADER=" + sim.IdentityHeader(),
	}, extra...)
}

// Process is a handler executable started directly (no host), for cold start and memory.
type Process struct {
	cmd    *exec.Cmd
	URL    string
	output bytes.Buffer
	done   chan struct{}
}

// StartProcess runs appRoot/handler with env on a free port and returns once it is
// started (not once it answers: see WaitReady).
func StartProcess(appRoot string, env []string) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &Process{URL: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(appRoot, "handler"))
	p.cmd.Dir = appRoot
	p.cmd.Env = append(append(os.Environ(), env...), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
	p.cmd.Stdout, p.cmd.Stderr = &p.output, &p.output
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start handler: %w", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// WaitReady polls GET / every 0.5 ms until the handler answers 200, as the host does
// before it sends work.
func (p *Process) WaitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		if resp, err := client.Get(p.URL + "/"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("bench: handler exited before answering:\n%s", p.output.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Microsecond):
		}
	}
}

// PeakRSS is the process's high-water resident set (VmHWM), in bytes.
func (p *Process) PeakRSS() (int64, error) { return PeakRSSOf(p.cmd.Process.Pid) }

// PeakRSSOf is the high-water resident set (VmHWM) of process pid, in bytes.
func PeakRSSOf(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: read VmHWM: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("bench: no VmHWM in /proc status")
}

// Stop kills the process and waits for it.
func (p *Process) Stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// ColdStarts starts the handler n times and returns each time from process start to the
// first 200 on GET /, sorted.
func ColdStarts(ctx context.Context, appRoot string, env []string, n int) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		p, err := StartProcess(appRoot, env)
		if err != nil {
			return nil, err
		}
		err = p.WaitReady(ctx)
		elapsed := time.Since(start)
		p.Stop()
		if err != nil {
			return nil, err
		}
		out = append(out, elapsed)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// QueuedRemediations starts one async full remediation per victim at once through the host
// emulator's front (POST /api/remediations, forwarded to the handler), waits until the
// queues are drained, and returns the runs' statuses. The host delivers up to batchSize
// messages per queue at once, so the handler carries many remediations at the same time.
func QueuedRemediations(ctx context.Context, host *hostemu.Host, victims []Victim) (map[runs.Status]int, error) {
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: len(victims)}}
	ids := make([]string, len(victims))
	errs := make(chan error, len(victims))
	var wg sync.WaitGroup
	for i, v := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// An idempotency key per user: a start answered 503 (the store was too slow) is
			// sent again and cannot start a second run.
			body, _ := json.Marshal(map[string]any{"user": v.UPN, "reason": "benchmark", "idempotencyKey": "bench-memory-" + v.ID})
			status := 0
			for attempt := 0; attempt < 10; attempt++ {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, host.URL()+"/api/remediations", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var run runs.Run
				status = resp.StatusCode
				decoded := json.NewDecoder(resp.Body).Decode(&run) == nil
				resp.Body.Close()
				if status == http.StatusAccepted && decoded {
					ids[i] = run.RunID
					return
				}
				if status != http.StatusServiceUnavailable {
					break
				}
				time.Sleep(time.Second)
			}
			errs <- fmt.Errorf("bench: start for %s: HTTP %d", v.UPN, status)
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	if err := host.WaitIdle(wctx); err != nil {
		return nil, err
	}
	statuses := map[runs.Status]int{}
	for _, id := range ids {
		resp, err := client.Get(host.URL() + "/api/remediations/" + id)
		if err != nil {
			return nil, err
		}
		var run runs.Run
		err = json.NewDecoder(resp.Body).Decode(&run)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("bench: run %s: %w", id, err)
		}
		statuses[run.Status]++
	}
	return statuses, nil
}
