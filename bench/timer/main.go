// Command timer times whole commands interleaved: every round runs each
// contestant once, in a fresh random order, each after its own untimed
// prepare command. A machine that slows down for a while (another tenant, a
// writeback) then costs every contestant alike, which hyperfine's one block
// per command cannot promise. It is part of bench/run.sh, not of the shim.
//
// Usage:
//
//	timer [-fixed] -runs N -warmup W -json FILE NAME PREPARE COMMAND [NAME PREPARE COMMAND...]
//
// PREPARE and COMMAND are split on whitespace and run without a shell, as
// hyperfine -N does; PREPARE "-" means none. -fixed keeps the given order in
// every round, for contestants whose prepare relies on the one before. The
// JSON has hyperfine's shape (results[].command is NAME, times are seconds),
// so one report reads both.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

type contestant struct {
	name    string
	prepare []string // nil: none
	argv    []string
	path    string

	times, user, system []float64 // seconds, timed rounds only
}

// result is one entry of hyperfine's --export-json "results".
type result struct {
	Command   string    `json:"command"`
	Mean      float64   `json:"mean"`
	Median    float64   `json:"median"`
	Min       float64   `json:"min"`
	Max       float64   `json:"max"`
	User      float64   `json:"user"`
	System    float64   `json:"system"`
	Times     []float64 `json:"times"`
	ExitCodes []int     `json:"exit_codes"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "timer:", err)
		os.Exit(1)
	}
}

func run(argv []string) error {
	fs := flag.NewFlagSet("timer", flag.ContinueOnError)
	runs := fs.Int("runs", 100, "timed rounds")
	warmup := fs.Int("warmup", 10, "untimed rounds before them")
	out := fs.String("json", "", "write results here")
	seed := fs.Uint64("seed", 1, "seed of the order of each round")
	fixed := fs.Bool("fixed", false, "run the contestants in the given order in every round")
	if err := fs.Parse(argv); err != nil {
		return err
	}
	args := fs.Args()
	if len(args) == 0 || len(args)%3 != 0 || *runs < 1 || *warmup < 0 || *out == "" {
		return errors.New("usage: timer [-fixed] -runs N -warmup W -json FILE (NAME PREPARE COMMAND)+")
	}
	var cs []*contestant
	for i := 0; i < len(args); i += 3 {
		c := &contestant{name: args[i], argv: strings.Fields(args[i+2])}
		if args[i+1] != "-" {
			c.prepare = strings.Fields(args[i+1])
		}
		if len(c.argv) == 0 {
			return fmt.Errorf("%s: empty command", c.name)
		}
		p, err := exec.LookPath(c.argv[0])
		if err != nil {
			return err
		}
		c.path = p
		cs = append(cs, c)
	}

	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	files := []uintptr{null.Fd(), null.Fd(), null.Fd()}
	rng := rand.New(rand.NewPCG(*seed, 0))
	order := slices.Clone(cs)
	rounds := *warmup + *runs
	for round := range rounds {
		if !*fixed {
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		if rounds >= 10 && round%(rounds/10) == 0 {
			fmt.Fprintf(os.Stderr, "  round %d of %d\n", round+1, rounds)
		}
		for _, c := range order {
			if c.prepare != nil {
				cmd := exec.Command(c.prepare[0], c.prepare[1:]...)
				cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("%s: prepare %q: %w", c.name, c.prepare, err)
				}
			}
			elapsed, ru, err := timeOnce(c, files)
			if err != nil {
				return fmt.Errorf("%s: round %d: %w", c.name, round, err)
			}
			if round >= *warmup {
				c.times = append(c.times, elapsed.Seconds())
				c.user = append(c.user, seconds(ru.Utime))
				c.system = append(c.system, seconds(ru.Stime))
			}
		}
	}

	var doc struct {
		Results []result `json:"results"`
	}
	for _, c := range cs {
		r := result{
			Command: c.name, Times: c.times, ExitCodes: make([]int, len(c.times)),
			Mean: mean(c.times), Median: median(c.times), Min: slices.Min(c.times), Max: slices.Max(c.times),
			User: mean(c.user), System: mean(c.system),
		}
		doc.Results = append(doc.Results, r)
		fmt.Fprintf(os.Stderr, "  %-40s median %8.3f ms  (min %.3f, max %.3f, %d runs)\n",
			c.name, r.Median*1e3, r.Min*1e3, r.Max*1e3, len(c.times))
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*out, append(b, '\n'), 0o644)
}

// timeOnce runs c's command once with stdio on /dev/null and returns the
// wall time from fork to reaped exit, with the child's resource usage.
func timeOnce(c *contestant, files []uintptr) (time.Duration, syscall.Rusage, error) {
	var ru syscall.Rusage
	start := time.Now()
	pid, err := syscall.ForkExec(c.path, c.argv, &syscall.ProcAttr{Env: os.Environ(), Files: files})
	if err != nil {
		return 0, ru, err
	}
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, &ru)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	elapsed := time.Since(start)
	if err != nil {
		return 0, ru, err
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return 0, ru, fmt.Errorf("%q failed: %v", c.argv, ws)
	}
	return elapsed, ru, nil
}

func seconds(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
