// Package policy decides what a start does: who the command runs as, which
// account lines to write, whether to move an image user, which home to
// create, what to do with each socket, which settings a setuid start may
// take from its caller, and every step that cannot be done, with the
// capabilities that would make it possible.
//
// It is pure: it reads settings and facts handed to it (package probe
// gathers them) and returns a Decision as data. It makes no system call
// and opens no file, so that every rule is a row of a table test that
// needs no root; a test fails if the package links syscall or
// golang.org/x/sys/unix. The setuid rules stand in one place, Settle.
//
// It deliberately does not: print (the caller renders Problems with their
// hints), or change anything (the caller applies the Decision).
package policy
