// Package diagnose is the judgement of `agent-entrypoint doctor`: from
// what a process of the container sees (its identity, its home, the
// sockets it was given and what the agent answers it, the start's record,
// the runtime's restrictions) and what a start would decide for it, it
// makes one check per thing, each ok, a warning or a problem, with the one
// change that fixes it. It is pure: the facts are gathered by the caller,
// so that every verdict is a row of a table test.
//
// It deliberately does not: look at anything itself, change anything, or
// word the hints of a start's own problems (those come with the problem,
// from the start's catalogue).
package diagnose
