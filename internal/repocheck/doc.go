// Package repocheck holds tests of the repository's own build files (the Makefile's fuzz
// lists, what each test binary links) and of what the handler links (no package that
// breaks the linker's dead-code elimination), so that what makes `make test` fast on a
// fresh clone and the handler small stays true as code moves.
package repocheck
