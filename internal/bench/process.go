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
func (p *Process) PeakRSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
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

// ConcurrentRemediations sends one sync full remediation per victim to the handler at once
// and returns the runs' statuses.
func ConcurrentRemediations(ctx context.Context, p *Process, victims []Victim) (map[runs.Status]int, error) {
	var (
		mu       sync.Mutex
		statuses = map[runs.Status]int{}
		firstErr error
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: len(victims)}}
	for _, v := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"user": v.UPN, "mode": "sync", "reason": "benchmark"})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/api/remediations", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			var run runs.Run
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&run)
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("bench: remediation of %s: %w", v.UPN, err)
			}
			statuses[run.Status]++
		}()
	}
	wg.Wait()
	return statuses, firstErr
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
