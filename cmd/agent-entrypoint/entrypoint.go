//go:build linux

package main

import (
	"fmt"

	"github.com/agent-entrypoint/agent-entrypoint/internal/claim"
	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/probe"
	"github.com/agent-entrypoint/agent-entrypoint/internal/startrecord"
)

// entrypoint is the shim's main mode: claim the start, settle the
// settings, gather the facts, decide, report, apply, drop and exec.
func entrypoint(log *logger, args, env []string) int {
	lookup := lookupIn(env)
	c, err := parseCLI(args, lookup)
	if err != nil {
		log.error(err)
		return exitFailure
	}
	log.debug = c.Debug
	switch {
	case c.Help:
		fmt.Print(usage)
		return 0
	case c.Version:
		fmt.Println("agent-entrypoint", version())
		return 0
	}
	cred, err := probe.Cred()
	if err != nil {
		log.error(err)
		return exitFailure
	}
	kind := policy.KindOf(cred)
	claimed, marker, claimErr := claimStart(log, kind)
	// The marker's descriptor is close-on-exec; a start that records
	// nothing leaves it empty.
	defer marker.Close()
	verdict := policy.AfterClaim(kind, claimed, cred.SetuidBit)
	if verdict == policy.FailClosed {
		log.error(fmt.Errorf("%w; refusing to start, since a later process of this container could take the privileged phase", claimErr))
		return exitFailure
	}
	image, err := imageSettings()
	if err != nil {
		log.error(err)
		return exitFailure
	}
	in := policy.Input{Caller: c.Settings, Image: image}
	in.AgentSocket, _ = lookup("SSH_AUTH_SOCK")
	in.User, _ = lookup("USER")
	e, refused := policy.Settle(kind, cred, in)
	log.debug = log.debug || e.Debug
	if err := log.report(refused, false); err != nil {
		return exitFailure
	}
	if verdict == policy.DropAtOnce {
		// A later `docker exec` or a process the command started: it gets
		// its own ids back and nothing else.
		log.debugf("no privileged phase: the container start was claimed before")
		return dropAndExec(log, true, execas.Creds{UID: cred.RUID, GID: cred.RGID, Groups: cred.Groups}, c.Command, env)
	}
	if policy.Transparent(kind, e) {
		log.debugf("no target uid given: running the command as root")
		if in.AgentSocket == "" && probe.Exists(policy.DockerDesktopSocket) {
			env = setEnv(env, "SSH_AUTH_SOCK="+policy.DockerDesktopSocket)
		}
		return dropAndExec(log, false, execas.Creds{}, c.Command, env)
	}

	done := log.step("decide")
	p, facts, err := probe.Gather(cred, e, in.AgentSocket)
	if err != nil {
		log.error(err)
		return exitFailure
	}
	defer p.Close()
	d := decide(p, &facts, e, in.User)
	done()
	for _, n := range d.Notes {
		log.debugf("%s", n)
	}
	if err := log.report(d.Problems, e.Strict); err != nil {
		return exitFailure
	}
	d, err = apply(log, p, &facts, e, in.User, d)
	if err != nil {
		return exitFailure
	}
	id := d.Identity
	creds := execas.Creds{UID: id.UID, GID: id.GID, Groups: d.Groups}
	env = setEnv(env, d.Env...)
	rec := startRecord(log, kind, d, env)
	if len(d.Relays) > 0 {
		return supervise(log, d, creds, c.Command, env, marker, rec)
	}
	writeRecord(log, marker, rec)
	return dropAndExec(log, d.Drop, creds, c.Command, env)
}

// startRecord is what this start did, for doctor and docker exec.
func startRecord(log *logger, kind policy.Kind, d policy.Decision, env []string) startrecord.Record {
	lookup := lookupIn(env)
	r := startrecord.Record{Start: kind.String(), UID: d.Identity.UID, GID: d.Identity.GID, Groups: d.Groups,
		User: d.Identity.Name, Warnings: log.warnings}
	r.Home, _ = lookup("HOME")
	r.AuthSock, _ = lookup("SSH_AUTH_SOCK")
	for _, s := range d.Sockets {
		r.Sockets = append(r.Sockets, startrecord.Socket{Path: s.Path, Mode: string(s.Mode), Why: s.Why})
	}
	return r
}

// writeRecord leaves the start's record in its marker, when it made one;
// one that cannot be written only leaves doctor without it.
func writeRecord(log *logger, m *claim.Marker, r startrecord.Record) {
	if err := m.Record(r.Marshal()); err != nil {
		log.debugf("record the start: %v", err)
	}
}

// claimStart claims the container start when the start holds root: every
// root start, and a setuid start that is the container's first process.
func claimStart(log *logger, kind policy.Kind) (policy.Claim, *claim.Marker, error) {
	if kind == policy.Unprivileged {
		return policy.Unclaimed, nil, nil
	}
	first, why := claim.First()
	if kind == policy.Setuid {
		// What the privileged phase creates (the marker, the lock, parents
		// of the home) belongs to root's group, not to the caller's.
		// Without CAP_SETGID (--cap-drop ALL) it stays the caller's: the
		// files are root-owned and not group-writable either way.
		_ = execas.SetEGID(0)
	} else {
		first = true // root may always claim, and must, for a setuid copy
	}
	out, marker, err := claim.Claim(first)
	switch {
	case err != nil:
		log.debugf("%v", err)
		return policy.Unrecorded, nil, err
	case out == claim.NotFirst:
		log.debugf("not the container's first process: %s", why)
		return policy.NotFirst, nil, nil
	case out == claim.Taken:
		return policy.Taken, nil, nil
	}
	return policy.Claimed, marker, nil
}

// imageSettings reads the image's config file, if it has one.
func imageSettings() (policy.Settings, error) {
	data, err := probe.ReadImageConfig(policy.ConfigFile)
	if err != nil || data == nil {
		return policy.Unset(), err
	}
	return parseConfigFile(data)
}

// decide decides, probing the paths the decision asks about until it has
// all it needs.
func decide(p *probe.Probe, f *policy.Facts, e policy.Effective, user string) policy.Decision {
	d := policy.Decide(e, user, *f)
	for range 3 {
		if len(d.Missing) == 0 {
			break
		}
		p.Paths(f, d.Missing, d.Home.Base, d.Home.RootOnly)
		d = policy.Decide(e, user, *f)
	}
	return d
}
