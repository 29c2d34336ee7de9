// Command genfunctions writes one folder per function, each with its function.json, from the
// registry in package functions, and the other files derived from it and the step catalog
// (the deployment's queue list, the README's step table). Run it from the repository root (make functions).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tourniquet/tourniquet/internal/functions"
)

func main() {
	root := flag.String("root", ".", "the Functions app root (the repository root)")
	flag.Parse()
	if err := functions.GenerateRepository(*root); err != nil {
		fmt.Fprintln(os.Stderr, "genfunctions:", err)
		os.Exit(1)
	}
}
