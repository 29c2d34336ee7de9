// Package repocheck holds tests of the repository's own build files (the Makefile's fuzz
// lists, what each test binary links), so that what makes `make test` fast on a fresh
// clone stays true as code moves.
package repocheck
