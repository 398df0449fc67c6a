// Package harness is the support code shared by the integration tests
// (package integration) and the demo (integration/cmd/demo): it talks to
// the Docker Engine through the docker CLI, builds the agent-entrypoint
// binary and the agentprobe helper, builds the base images locally and
// caches them by a content hash of their recipe, and runs a real ssh-agent
// behind a root-owned mode-0755 socket, as Docker Desktop serves it.
//
// It deliberately does not pull images (no registry is assumed to be
// reachable), does not know any mirror or registry address (mmdebstrap
// uses its own default Debian sources), and does not decide what a test
// expects: it returns results and errors, and the callers judge them.
//
// Environment variables read here:
//
//	AGENT_ENTRYPOINT_TEST_DEBIAN_IMAGE   use this local image instead of the mmdebstrap-built Debian base
//	AGENT_ENTRYPOINT_TEST_BUSYBOX_IMAGE  use this local image instead of the busybox-static based one
//	AGENT_ENTRYPOINT_TEST_BINARY         test this prebuilt binary instead of building ./cmd/agent-entrypoint
package harness
