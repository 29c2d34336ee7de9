package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// benchInvocation runs BenchmarkInvocationNoOpStep (internal/server) with go test and
// copies its ns/op and allocs/op into the table.
func benchInvocation(ctx context.Context, env *benchEnv, t *table) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "BenchmarkInvocation", "-benchmem", "-count", "1", "./internal/server")
	cmd.Dir = env.appRoot
	// The benchmark reuses this run's Azurite instead of starting its own.
	cmd.Env = append(os.Environ(), "TOURNIQUET_AZURITE_CONNECTION_STRING="+env.storage.ConnectionString)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	found := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// BenchmarkInvocationNoOpStep/azurite-2  889  1305865 ns/op  84060 B/op  1114 allocs/op
		if len(f) < 8 || !strings.HasPrefix(f[0], "BenchmarkInvocation") || f[3] != "ns/op" {
			continue
		}
		found = true
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i] // drop the GOMAXPROCS suffix
		}
		var ns float64
		fmt.Sscan(f[2], &ns)
		t.row("invocation overhead: "+strings.TrimPrefix(name, "Benchmark"), fmt.Sprintf("%.0f us/op", ns/1000), "",
			fmt.Sprintf("%s allocs/op, %s B/op", f[6], f[4]))
	}
	if !found {
		return fmt.Errorf("no benchmark lines in:\n%s", out)
	}
	return nil
}
