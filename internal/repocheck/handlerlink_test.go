package repocheck

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// deadCodeBreakers are packages that call methods by a name or index known only at run time
// (reflect.Value.MethodByName, reflect.Type.Method(i)) in their ordinary use. One such
// reachable call makes the linker keep every exported method of every reachable type
// (cmd/link/internal/ld/deadcode.go, golang/go#62024, #72895): with the Graph SDK linked,
// html/template took the handler from 32 MB to 119 MB (issue 25).
var deadCodeBreakers = map[string]string{
	"text/template": "executes templates with reflect.Value.MethodByName (evalField)",
	"html/template": "wraps text/template",
	"net/rpc":       "lists a receiver's methods with reflect.Type.Method (suitableMethods)",
}

// The handler imports no package known to break the linker's dead-code elimination.
func TestHandlerImportsNoDeadCodeBreaker(t *testing.T) {
	goBin := goCommand(t)
	cmd := exec.Command(goBin, "list", "-deps", "./cmd/handler")
	cmd.Dir, cmd.Env = filepath.Join("..", ".."), goEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/handler: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if why, bad := deadCodeBreakers[pkg]; bad {
			t.Errorf("the handler links %s, which %s: the linker then keeps every exported method of every type (issue 25); `go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/handler | grep %s` shows who imports it", pkg, why, pkg)
		}
	}
}

// The linker itself sees no method called by a run-time name in the handler: a build with
// -ldflags=-dumpdep marks every reachable function that does so <ReflectMethod>. This
// catches the breakers not in the list above, in any module.
func TestHandlerLinkHasNoReflectMethodCall(t *testing.T) {
	if testing.Short() {
		t.Skip("links the handler")
	}
	goBin := goCommand(t)
	cmd := exec.Command(goBin, "build", "-ldflags=-dumpdep", "-o", filepath.Join(t.TempDir(), "handler"), "./cmd/handler")
	cmd.Dir, cmd.Env = filepath.Join("..", ".."), goEnv()
	// The dependency graph is tens of MB of "from -> to" lines: read it as it comes.
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); done <- err }()
	// Each reachable symbol is printed once, as "parent -> symbol", with flags after it.
	found := map[string]string{} // function that calls by a run-time name -> its parent
	var other bytes.Buffer       // what is not a graph edge (compile errors)
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		from, to, edge := strings.Cut(sc.Text(), " -> ")
		if !edge {
			if other.Len() < 4<<10 {
				other.WriteString(sc.Text() + "\n")
			}
			continue
		}
		if name, flags, _ := strings.Cut(to, " <"); strings.Contains(flags, "ReflectMethod>") {
			parent, _, _ := strings.Cut(from, " <")
			found[name] = parent
		}
	}
	_, _ = io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Fatalf("go build -ldflags=-dumpdep ./cmd/handler: %v\n%s", err, other.String())
	}
	for _, name := range slices.Sorted(maps.Keys(found)) {
		t.Errorf("%s calls a method by a run-time name (reached from %s): the linker then keeps every exported method of every type (issue 25)", name, found[name])
	}
}

// goCommand returns the go command, or skips the test when there is none.
func goCommand(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	return goBin
}

// goEnv is the environment with the Makefile's build settings where they are not set, so
// that a build here uses the build cache `make build` filled rather than compiling the
// Graph SDK again.
func goEnv() []string {
	env := os.Environ()
	if os.Getenv("CGO_ENABLED") == "" {
		env = append(env, "CGO_ENABLED=0")
	}
	if os.Getenv("GOFLAGS") == "" {
		env = append(env, "GOFLAGS=-trimpath")
	}
	return env
}
