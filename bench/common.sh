# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scripts that source this
# Shared by bench/run.sh and bench/profile.sh; sourced, not run.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${AGENT_ENTRYPOINT_BENCH_OUT:-$here/out}

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root: unshare, chroot and mmdebstrap need it"

apt_updated=0
# install_missing PKG... installs packages with apt-get (after one apt-get
# update); callers pass only packages whose tools were found missing.
install_missing() {
	(($#)) || return 0
	command -v apt-get >/dev/null || die "missing packages $*, and no apt-get to install them"
	log "installing $*"
	if [ "$apt_updated" = 0 ]; then
		apt-get update -qq
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# The rootfs recipe. Its hash names the cache directory, so a change here
# builds a new rootfs instead of reusing an old one.
# shellcheck disable=SC2054 # the comma belongs to --include
recipe=(mmdebstrap --variant=minbase --include=sudo,passwd bookworm)
mirror=${AGENT_ENTRYPOINT_BENCH_MIRROR:-}
recipe_hash=$(
	{
		echo "agent-entrypoint-bench rootfs v1"
		dpkg --print-architecture
		printf '%s\n' "${recipe[@]}" "$mirror"
	} | sha256sum | cut -c1-16
)
root=${AGENT_ENTRYPOINT_BENCH_ROOTFS:-/var/cache/agent-entrypoint-bench/$recipe_hash/rootfs}
case $root in
/*) ;;
*) root=$PWD/$root ;;
esac
# The timer splits commands on whitespace.
[[ $root != *[[:space:]]* ]] || die "rootfs path must not contain whitespace: $root"

statedir=$root/var/lib/agent-entrypoint-bench
sockpath=/run/bench/ssh-auth.sock

# Every contestant starts as a whole process in fresh mount and pid
# namespaces, chrooted, with /proc mounted as a container has it:
# `$ns [-u UID:GID] ROOT CMD...` (bench/nsrun/nsrun.c). The timer runs every
# scenario's contestants interleaved (bench/timer).
ns=$out/bin/nsrun
timer=$out/bin/timer
# Scenarios 1 to 3 start in a fresh container root (see container.sh).
top=$root.ctr/merged
layers=$root.layers

# build_tools compiles nsrun (static, so that it starts as fast as it can)
# and the timer into $out/bin.
build_tools() {
	mkdir -p "$out/bin"
	if ! gcc -O2 -Wall -static -o "$ns" "$here/nsrun/nsrun.c" 2>"$out/nsrun-build.log"; then
		# gcc is there but the static C library may not be.
		install_missing libc6-dev
		gcc -O2 -Wall -static -o "$ns" "$here/nsrun/nsrun.c"
	fi
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$timer" ./bench/timer)
}

base_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "TERM=${TERM:-dumb}")
# Scenario 1: the target in the environment, as `docker run -e`.
env_drop=("${base_env[@]}" AGENT_ENTRYPOINT_UID=1000 AGENT_ENTRYPOINT_GID=1000)
# Scenarios 2 and 3: what the seed's script reads.
env_full=("${base_env[@]}" USER=bench "SSH_AUTH_SOCK=$sockpath")

# reset STATE restores an account state (see make_state in run.sh).
reset() { bash "$here/reset.sh" "$root" "$1"; }

# A live listener on the agent socket while the benchmark runs.
sockpid=
start_agent_socket() {
	install -d -m 0755 "$root/run/bench"
	python3 "$here/agent_sock.py" "$root$sockpath" &
	sockpid=$!
	local _
	for _ in $(seq 50); do
		[ -S "$root$sockpath" ] && return 0
		sleep 0.1
	done
	die "agent socket $root$sockpath did not appear"
}
stop_agent_socket() {
	if [ -n "$sockpid" ]; then kill "$sockpid" 2>/dev/null || true; fi
	sockpid=
}
