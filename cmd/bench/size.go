package main

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxHandlerBytes is the goal for the stripped handler (issue 25): what it weighed before
// html/template came into its link, with a little room.
const maxHandlerBytes = 35_000_000

// benchSize reports the stripped handler (make build strips it) and the deployment zip: the
// app root as scripts/package.sh lays it out (host.json, the function folders, the handler),
// deflated. Every cold instance on Flex Consumption downloads and unpacks it.
func benchSize(t *table, appRoot string) error {
	st, err := os.Stat(filepath.Join(appRoot, "handler"))
	if err != nil {
		return err
	}
	zipped, files, err := zipSize(appRoot)
	if err != nil {
		return err
	}
	t.check("handler size (stripped)", mb(st.Size()), fmt.Sprintf("<= %s", mb(maxHandlerBytes)), st.Size() <= maxHandlerBytes, "")
	t.row("deployment zip", mb(zipped), "", fmt.Sprintf("host.json, %d function folders and the handler, deflated", files-2))
	return nil
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// zipSize zips host.json, every */function.json and the handler of appRoot and returns
// the archive's size and how many files it holds.
func zipSize(appRoot string) (int64, int, error) {
	functions, err := filepath.Glob(filepath.Join(appRoot, "*", "function.json"))
	if err != nil {
		return 0, 0, err
	}
	var n counter
	zw := zip.NewWriter(&n)
	files := append([]string{filepath.Join(appRoot, "host.json"), filepath.Join(appRoot, "handler")}, functions...)
	for _, path := range files {
		if err := addFile(zw, appRoot, path); err != nil {
			return 0, 0, err
		}
	}
	if err := zw.Close(); err != nil {
		return 0, 0, err
	}
	return int64(n), len(files), nil
}

func addFile(zw *zip.Writer, root, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	hdr, err := zip.FileInfoHeader(info)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return err
	}
	hdr.Name, hdr.Method = filepath.ToSlash(rel), zip.Deflate
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// counter is an io.Writer that counts what it is given.
type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}
