package functions

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// MakeAppRoot makes a Functions app root in dir from the repository at repo: its host.json,
// one folder per function (Generate), and the handler built from cmd/handler at the path
// host.json names. Integration tests run the real handler under the host emulator from it.
func MakeAppRoot(dir, repo string) error {
	hostJSON, err := os.ReadFile(filepath.Join(repo, "host.json"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "host.json"), hostJSON, 0o644); err != nil {
		return err
	}
	if err := Generate(dir); err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "handler"), "./cmd/handler")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}
