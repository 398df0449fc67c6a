package main

import (
	"fmt"
	"os"
	"slices"
	"time"
)

// logger is the shim's one voice on stderr: "agent-entrypoint: " and then
// "error:", "warning:", "hint:" or, with -v, "debug:".
type logger struct {
	debug bool
	hints []string // printed already: a hint shared by several warnings is said once
}

func (l *logger) print(kind, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "agent-entrypoint: "+kind+": "+format+"\n", args...)
}

func (l *logger) error(err error) { l.report("error", err) }

func (l *logger) warn(err error) { l.report("warning", err) }

func (l *logger) report(kind string, err error) {
	l.print(kind, "%v", err)
	if h := hintFor(err); h != "" && !slices.Contains(l.hints, h) {
		l.hints = append(l.hints, h)
		l.print("hint", "%s", h)
	}
}

func (l *logger) debugf(format string, args ...any) {
	if l.debug {
		l.print("debug", format, args...)
	}
}

// step logs how long a step took, when debugging: defer l.step("x")().
func (l *logger) step(name string) func() {
	if !l.debug {
		return func() {}
	}
	start := time.Now()
	return func() { l.print("debug", "%s: %v", name, time.Since(start).Round(time.Microsecond)) }
}
