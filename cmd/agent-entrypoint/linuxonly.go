package main

// Every other file of this package is built for Linux only: on another
// system this import is what the compiler sees, and it fails with a message
// that says to set GOOS=linux.
import _ "github.com/agent-entrypoint/agent-entrypoint/internal/linuxonly"
