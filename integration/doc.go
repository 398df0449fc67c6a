// Package integration holds black-box tests of agent-entrypoint in real
// containers on the local Docker Engine. They build the binary once
// (TestMain), build their base images locally (no registry is contacted)
// and cache them by a hash of their recipe, and serve a real ssh-agent
// through a root-owned mode-0755 socket, as Docker Desktop does.
//
// Run them as root on a host with a Docker Engine, mmdebstrap, openssh-client,
// busybox-static and gosu (the drop-in's oracle, copied into the images):
//
//	go test ./integration/...
//
// Without a usable engine (or without root) the tests are skipped, except
// when CI=true, where that is a failure. go test -short skips them too.
//
// The first run builds a Debian bookworm image with mmdebstrap (tens of
// seconds); later runs reuse it. Images the tests build carry the label
// agent-entrypoint.test; remove them with
//
//	docker image ls --filter label=agent-entrypoint.test --format '{{.Repository}}:{{.Tag}}' | xargs -r docker image rm
//
// To run against images pulled elsewhere instead (they must be local):
//
//	AGENT_ENTRYPOINT_TEST_DEBIAN_IMAGE=debian:bookworm-slim
//	AGENT_ENTRYPOINT_TEST_BUSYBOX_IMAGE=alpine:3.20
//	AGENT_ENTRYPOINT_TEST_BINARY=/path/to/agent-entrypoint   (a release binary instead of a fresh build)
//
// The README's examples are test inputs too (readme_test.go): its
// Dockerfiles are built on the local base images, its compose file runs
// with docker-compose, and its Kubernetes manifests with podman kube play
// as root (Debian packages docker-compose, podman and catatonit). See
// "How the examples are tested" in README.md.
//
// TestRootlessPodman needs podman and uidmap; it runs Podman as
// $AGENT_ENTRYPOINT_TEST_PODMAN_USER, or under CI=true as
// agent-entrypoint-podman, which it creates.
//
// Images without ssh-add (debian:bookworm-slim, busybox, alpine) are checked
// with agentprobe (integration/internal/agentprobe), a static stand-in for
// ssh-add -l. The tests in this package share one agent socket and run
// sequentially: do not add t.Parallel.
//
// The demo (integration/demo.sh) shows the main scenario step by step with
// the same support code (integration/internal/harness).
package integration
