package repocheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const sdkModule = "github.com/microsoftgraph/msgraph-sdk-go"

// makeList returns the pkg:Target:budget entries of a Makefile variable (with its
// backslash continuations).
func makeList(t *testing.T, makefile, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` = ((?:.*\\\n)*.*)$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatalf("the Makefile defines no %s", name)
	}
	return strings.Fields(strings.ReplaceAll(m[1], "\\\n", " "))
}

// fuzzTargets finds every fuzz target of the repository as "dir:FuzzName".
func fuzzTargets(t *testing.T, root string) []string {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range decl.FindAllSubmatch(src, -1) {
			out = append(out, filepath.ToSlash(dir)+":"+string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every fuzz target is fuzzed by `make test` (FUZZ_TARGETS) or by `make fuzz`
// (FUZZ_SDK_TARGETS), never by both, and a target whose package links the Graph SDK is not
// in `make test`: instrumented fuzzing would rebuild the whole SDK there.
func TestEveryFuzzTargetIsListedAndMakeTestFuzzesNoSDKPackage(t *testing.T) {
	root := filepath.Join("..", "..")
	raw, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile := string(raw)
	short, sdk := makeList(t, makefile, "FUZZ_TARGETS"), makeList(t, makefile, "FUZZ_SDK_TARGETS")
	listed := map[string]string{}
	for _, list := range []struct {
		name    string
		entries []string
	}{{"FUZZ_TARGETS", short}, {"FUZZ_SDK_TARGETS", sdk}} {
		for _, e := range list.entries {
			parts := strings.Split(e, ":")
			if len(parts) != 3 || !regexp.MustCompile(`^\d+x$`).MatchString(parts[2]) {
				t.Errorf("%s entry %q is not pkg:Target:countx", list.name, e)
				continue
			}
			key := parts[0] + ":" + parts[1]
			if other, dup := listed[key]; dup {
				t.Errorf("%s is in %s and %s", key, other, list.name)
			}
			listed[key] = list.name
		}
	}
	found := fuzzTargets(t, root)
	for _, f := range found {
		if _, ok := listed[f]; !ok {
			t.Errorf("fuzz target %s is in neither FUZZ_TARGETS nor FUZZ_SDK_TARGETS", f)
		}
	}
	for key := range listed {
		if !slices.Contains(found, key) {
			t.Errorf("the Makefile lists %s, which does not exist", key)
		}
	}

	if testing.Short() {
		return
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to list package dependencies")
	}
	for _, e := range short {
		pkg := "./" + strings.SplitN(e, ":", 2)[0]
		cmd := exec.Command(goBin, "list", "-deps", "-test", pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps -test %s: %v", pkg, err)
		}
		if bytes.Contains(out, []byte(sdkModule+"\n")) {
			t.Errorf("%s is fuzzed by make test but links %s: move the target to FUZZ_SDK_TARGETS or its code to a leaf package", pkg, sdkModule)
		}
	}
}
