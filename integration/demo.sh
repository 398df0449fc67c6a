#!/usr/bin/env bash
# Show agent-entrypoint's main job on this machine, from scratch:
#
#   sudo integration/demo.sh
#
# It needs a running Docker Engine and Go; it installs what else is missing
# (Debian/Ubuntu: mmdebstrap, openssh-client) with apt-get, builds the binary
# and an example image (Dockerfile.example on a Debian base built locally with
# mmdebstrap: no registry is used), starts a real ssh-agent with a fresh key
# behind a root-owned mode-0755 socket (as Docker Desktop mounts it) and runs
#
#   docker run --rm --user UID:GID -v SOCK:/run/host-services/ssh-auth.sock IMAGE ssh-add -l
#
# with and without the entrypoint. The steps themselves are in
# integration/cmd/demo, which shares its code with the integration tests.
set -euo pipefail

say() { printf '\n== %s\n' "$*"; }
die() { printf 'demo.sh: error: %s\n' "$*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."

if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "run this as root"
	say "root is needed (mmdebstrap, and handing the agent socket to root): re-running with sudo"
	exec sudo env "PATH=$PATH" bash "$here/demo.sh" "$@"
fi

# Install only what is missing.
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v ssh-agent >/dev/null && command -v ssh-add >/dev/null && command -v ssh-keygen >/dev/null ||
	missing+=(openssh-client)
if [ ${#missing[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || die "missing ${missing[*]}, and there is no apt-get to install them"
	say "installing the missing packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
else
	say "mmdebstrap and openssh-client are installed"
fi

# The engine is not installed here: which package, and how it is started and
# configured, is the machine owner's choice.
command -v docker >/dev/null || die "docker not found: install and start a Docker Engine, then run this again"

# Go is not installed from apt: distributions often ship one older than go.mod
# asks for. A go >= 1.21 fetches the right toolchain by itself.
if ! command -v go >/dev/null; then
	if [ -x /usr/local/go/bin/go ]; then
		PATH=$PATH:/usr/local/go/bin
	else
		die "go not found: install Go (1.21 or later) and run this again"
	fi
fi

# Under sudo, show the invoking user's uid; as root itself the demo picks 1000.
args=()
if [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ]; then
	args+=(--uid "$SUDO_UID")
fi

say "running the demo (go run ./integration/cmd/demo)"
exec go run ./integration/cmd/demo "${args[@]}" "$@"
