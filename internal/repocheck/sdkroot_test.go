package repocheck

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// No package of the repository, tests included, imports msgraph-sdk-go's root package: it
// imports every one of Graph's request-builder packages (84 SDK packages in the handler's
// build against 12 without it), and compiling them is most of a cold `make test`. Request
// builders come from graph.RequestBuilders, which imports only the ones Tourniquet calls.
func TestNothingImportsTheGraphSDKsRootPackage(t *testing.T) {
	goBin := goCommand(t)
	cmd := exec.Command(goBin, "list", "-test", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "./...")
	cmd.Dir, cmd.Env = filepath.Join("..", ".."), goEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -test ./...: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		for _, imp := range strings.Fields(imports) {
			if imp == sdkModule {
				t.Errorf("%s imports %s (the SDK's root client, which compiles all of Graph's request builders); use graph.RequestBuilders and add the builder it needs there", pkg, sdkModule)
			}
		}
	}
}
