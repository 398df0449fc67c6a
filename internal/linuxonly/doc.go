// Package linuxonly turns a build for another operating system into one
// compile error that names the fix. The shim is made of Linux system calls
// (setresuid, openat2, SO_PEERCRED, prctl), so a build on a Mac would
// otherwise stop at whichever of them the compiler met first, with a message
// such as "undefined: unix.SYS_SETRESGID" that says nothing of GOOS.
//
// The main package imports it from its one file without a build constraint;
// every other file of the main package is built for Linux only, so on
// another system this package is all that is compiled, and its error is the
// only one printed.
package linuxonly
