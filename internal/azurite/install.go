package azurite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// findPackageRoot walks up from the working directory (a package directory under
// `go test`) to the folder holding package.json, the repository root.
func findPackageRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no package.json in the working directory or any parent")
		}
		dir = parent
	}
}

// ensureInstalled returns the azurite executable under root, running `npm ci` first
// when node_modules does not have it (a fresh clone or CI machine).
func ensureInstalled(ctx context.Context, root string) (string, error) {
	bin := filepath.Join(root, "node_modules", ".bin", "azurite")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = root
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm ci in %s: %w; output:\n%s", root, err, out.String())
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("npm ci in %s did not install azurite: %w", root, err)
	}
	return bin, nil
}
