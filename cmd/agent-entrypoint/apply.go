//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accountfiles"
	"github.com/agent-entrypoint/agent-entrypoint/internal/homedir"
	"github.com/agent-entrypoint/agent-entrypoint/internal/ownership"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/probe"
	"golang.org/x/sys/unix"
)

// applier carries out a decision: the only part of a start that changes
// the system. A step that fails anyway is a warning and the next one still
// runs; under strict it fails the start.
type applier struct {
	log    *logger
	strict bool
}

// fail reports a step that failed, and under strict returns it.
func (a *applier) fail(err error, hint string) error {
	if a.strict {
		a.log.say("error", err, hint)
		return err
	}
	a.log.say("warning", err, hint)
	return nil
}

// apply writes the account lines (deciding again under the lock, so that
// an edit made meanwhile is kept), moves the files of a moved user,
// creates the home and grants the sockets. It returns the decision it
// carried out.
func apply(log *logger, p *probe.Probe, f *policy.Facts, e policy.Effective, user string, d policy.Decision) (policy.Decision, error) {
	defer log.step("apply")()
	a := &applier{log: log, strict: e.Strict}
	if len(d.Plan.Lines) > 0 {
		var err error
		if d, err = a.accounts(p, f, e, user, d); err != nil {
			return d, err
		}
	}
	if d.Home.Create {
		id := d.Identity
		made, err := homedir.Create(id.Home, id.UID, id.GID, homedir.Rules{Base: d.Home.Base, RootOnly: d.Home.RootOnly})
		if err != nil {
			if err := a.fail(fmt.Errorf("create home: %w", err), ""); err != nil {
				return d, err
			}
			if d.HomeFallback != "" {
				d.Env = setEnv(d.Env, "HOME="+d.HomeFallback)
			}
		} else if made {
			log.debugf("created home %s", id.Home)
		}
	}
	for _, act := range d.Sockets {
		if err := a.socket(p, act, d.Identity.UID); err != nil {
			return d, err
		}
	}
	return d, nil
}

// socket changes one socket as act says; group and relay change none.
func (a *applier) socket(p *probe.Probe, act policy.SocketAction, uid int) error {
	s := p.Socket(act.Path)
	var err error
	switch act.Mode {
	case policy.Chmod:
		old := s.Perm
		if err = s.SetPerm(act.Perm); err == nil {
			a.log.debugf("chmod %s %04o -> %04o", act.Path, old, act.Perm)
		}
	case policy.Chown:
		old := s.UID
		if err = s.Chown(uid); err == nil {
			a.log.debugf("chown %s %d -> %d", act.Path, old, uid)
		}
	}
	if err != nil {
		return a.fail(fmt.Errorf("grant socket: %w", err), "make the socket usable on the host, or set AGENT_ENTRYPOINT_SOCKET_MODE=relay")
	}
	return nil
}

// accounts takes the lock, reads the account files again, decides again
// and writes the lines of that decision.
func (a *applier) accounts(p *probe.Probe, f *policy.Facts, e policy.Effective, user string, d policy.Decision) (policy.Decision, error) {
	unlock, err := accountfiles.Lock(probe.EtcDir)
	if err != nil {
		return d, a.fail(fmt.Errorf("add user %s: %w", d.Identity.Name, err), "")
	}
	defer unlock()
	if err := p.Reload(f); err != nil {
		a.log.error(err)
		return d, err
	}
	again := decide(p, f, e, user)
	// What the files say now may differ from what was reported: say what
	// is new, and stop where it must.
	var fresh []policy.Problem
	for _, q := range again.Problems {
		if !slices.ContainsFunc(d.Problems, func(o policy.Problem) bool { return o.Kind == q.Kind && o.Err.Error() == q.Err.Error() }) {
			fresh = append(fresh, q)
		}
	}
	if err := a.log.report(fresh, a.strict); err != nil {
		return d, err
	}
	d = again
	if err := accountfiles.Apply(d.Plan, p.Accounts); err != nil {
		return d, a.fail(fmt.Errorf("add user %s: %w", d.Identity.Name, err), "")
	}
	for _, l := range d.Plan.Lines {
		a.log.debugf("wrote to %s: %s", l.File, l.Text)
	}
	if m := d.Plan.Move; m != nil {
		return d, a.moveFiles(d)
	}
	return d, nil
}

// moveFiles hands what the moved user owned under its home and the
// AGENT_ENTRYPOINT_CHOWN paths to its new ids.
func (a *applier) moveFiles(d policy.Decision) error {
	m := d.Plan.Move
	defer a.log.step("move files of " + m.Name)()
	change := ownership.Change{OldUID: m.OldUID, NewUID: m.NewUID, OldGID: m.OldGID, NewGID: m.NewGID}
	if m.OldGID == 0 {
		// A primary group of root (OpenShift-style images) stays: files of
		// group 0 are never handed over.
		change.NewGID = 0
	}
	showProgress := a.log.debug || isTerminal(os.Stderr)
	for _, root := range d.ChownRoots {
		var opt ownership.Options
		if showProgress {
			opt.Progress = func(st ownership.Stats) {
				a.log.print("debug", "moving files under %s: %d entries seen, %d changed, %v", root, st.Seen, st.Changed, st.Elapsed.Round(100*time.Millisecond))
			}
		}
		st, err := ownership.Walk(root, change, opt)
		a.log.debugf("moved %s: %d entries seen, %d changed", root, st.Seen, st.Changed)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			if err := a.fail(fmt.Errorf("move files of %s: %w", m.Name, err), ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// isTerminal reports whether f is a terminal, where progress lines help.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
