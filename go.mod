module github.com/agent-entrypoint/agent-entrypoint

go 1.26.0

require (
	github.com/moby/sys/user v0.5.0
	golang.org/x/sys v0.49.0
)
