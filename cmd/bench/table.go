package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// table collects the results as rows of metric, value, bound or target, and notes.
type table struct {
	rows   [][4]string
	notes  []string
	failed bool
}

func (t *table) row(metric, value, bound, note string) {
	t.rows = append(t.rows, [4]string{metric, value, bound, note})
	if value == "FAILED" {
		t.failed = true
	}
}

// check records a row whose note says whether a target was met; a miss fails the run.
func (t *table) check(metric, value, bound string, ok bool, note string) {
	verdict := "ok"
	if !ok {
		verdict = "MISSED"
		t.failed = true
	}
	t.row(metric, value, bound, strings.TrimSpace(verdict+"  "+note))
}

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *table) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tvalue\tbound / target\tcheck, notes")
	fmt.Fprintln(tw, "------\t-----\t--------------\t-------------")
	for _, r := range t.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r[0], r[1], r[2], r[3])
	}
	_ = tw.Flush()
	for _, n := range t.notes {
		fmt.Fprintln(w, "# "+n)
	}
}

// memTotal is the machine's memory as /proc/meminfo says, for the table's header.
func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "memory unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			var kb int
			fmt.Sscan(f[1], &kb)
			return fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return "memory unknown"
}
