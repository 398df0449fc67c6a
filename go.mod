module github.com/agent-entrypoint/agent-entrypoint

go 1.26.0

require golang.org/x/sys v0.50.0

require (
	github.com/moby/sys/mountinfo v0.7.3
	github.com/moby/sys/user v0.5.0
	github.com/rogpeppe/go-internal v1.16.0
	golang.org/x/crypto v0.59.0
)

require golang.org/x/tools v0.26.0 // indirect
