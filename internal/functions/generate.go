package functions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/tourniquet/tourniquet/internal/catalog"
)

// QueuesFile is where Generate writes the queues the app binds (each with its poison
// queue), relative to root: infra/modules/storage.bicep reads it with loadJsonContent, so
// the deployment creates exactly the queues of the registry.
const QueuesFile = "infra/modules/queues.json"

// Readme is the file whose step table Generate writes from the catalog, between these
// markers.
const (
	Readme         = "README.md"
	stepTableBegin = "<!-- step table: generated from internal/catalog by go generate ./internal/functions -->\n"
	stepTableEnd   = "<!-- end of step table -->\n"
)

// readmeWithStepTable returns the README of root with its step table rendered from the
// catalog.
func readmeWithStepTable(root string) (current, want []byte, err error) {
	current, err = os.ReadFile(filepath.Join(root, Readme))
	if err != nil {
		return nil, nil, fmt.Errorf("functions: %w", err)
	}
	begin := bytes.Index(current, []byte(stepTableBegin))
	end := bytes.Index(current, []byte(stepTableEnd))
	if begin < 0 || end < begin {
		return nil, nil, fmt.Errorf("functions: %s has no step table markers", Readme)
	}
	want = append([]byte{}, current[:begin+len(stepTableBegin)]...)
	want = append(want, catalog.MarkdownTable()...)
	want = append(want, current[end:]...)
	return current, want, nil
}

// queuesJSON renders QueuesFile.
func queuesJSON() ([]byte, error) {
	var names []string
	for _, q := range Queues() {
		names = append(names, q, q+"-poison")
	}
	out, err := json.MarshalIndent(names, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Generate writes one folder per function with its function.json under root (a Functions
// app root), and removes function folders that the registry no longer lists.
func Generate(root string) error {
	want := map[string]bool{}
	for _, f := range Registry() {
		want[f.Name] = true
		data, err := f.FunctionJSON()
		if err != nil {
			return err
		}
		dir := filepath.Join(root, f.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("functions.Generate: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "function.json"), data, 0o644); err != nil {
			return fmt.Errorf("functions.Generate: %w", err)
		}
	}
	stale, err := folders(root)
	if err != nil {
		return err
	}
	for _, name := range stale {
		if !want[name] {
			if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
				return fmt.Errorf("functions.Generate: %w", err)
			}
		}
	}
	return nil
}

// GenerateRepository writes everything the repository at root derives from the registry
// and the catalog: the function folders (Generate), the deployment's queue list
// (QueuesFile) and the README's step table.
func GenerateRepository(root string) error {
	if err := Generate(root); err != nil {
		return err
	}
	queues, err := queuesJSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, QueuesFile), queues, 0o644); err != nil {
		return fmt.Errorf("functions.GenerateRepository: %w", err)
	}
	_, readme, err := readmeWithStepTable(root)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, Readme), readme, 0o644); err != nil {
		return fmt.Errorf("functions.GenerateRepository: %w", err)
	}
	return nil
}

// Check lists every difference between the repository at root and what GenerateRepository
// would write.
func Check(root string) ([]string, error) {
	var diffs []string
	want := map[string]bool{}
	for _, f := range Registry() {
		want[f.Name] = true
		data, err := f.FunctionJSON()
		if err != nil {
			return nil, err
		}
		got, err := os.ReadFile(filepath.Join(root, f.Name, "function.json"))
		switch {
		case err != nil:
			diffs = append(diffs, fmt.Sprintf("%s/function.json is missing", f.Name))
		case !bytes.Equal(got, data):
			diffs = append(diffs, fmt.Sprintf("%s/function.json differs from the registry", f.Name))
		}
	}
	queues, err := queuesJSON()
	if err != nil {
		return nil, err
	}
	if got, err := os.ReadFile(filepath.Join(root, QueuesFile)); err != nil || !bytes.Equal(got, queues) {
		diffs = append(diffs, QueuesFile+" differs from the registry's queues")
	}
	current, readme, err := readmeWithStepTable(root)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(current, readme) {
		diffs = append(diffs, Readme+"'s step table differs from the catalog")
	}
	have, err := folders(root)
	if err != nil {
		return nil, err
	}
	for _, name := range have {
		if !want[name] {
			diffs = append(diffs, fmt.Sprintf("%s/function.json is not in the registry", name))
		}
	}
	return diffs, nil
}

// folders lists the folders under root that hold a function.json.
func folders(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("functions: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(root, e.Name(), "function.json")); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	return names, nil
}
