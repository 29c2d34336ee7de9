//go:build !unix

package main

import "io"

// termWidth cannot ask the console here: 80 columns is assumed, so a line never wraps and
// breaks the in-place redraw on a console at least that wide.
func termWidth(io.Writer) int { return 80 }
