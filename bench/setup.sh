# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for bench/run.sh, which sources this
# shellcheck disable=SC2154 # here, out, root and the rest come from common.sh, sourced first
# bench/setup.sh: everything bench/run.sh needs before its first contestant
# runs: the tools, the binaries under test, the rootfs and its account
# states, scenario 5's tree, the agent socket. Sourced, not run.
# ---------------------------------------------------------------- tools

# sudo and passwd are not needed on the host: mmdebstrap installs them into
# the rootfs, and setpriv runs from the rootfs's util-linux.
missing=()
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
[ -x /usr/sbin/gosu ] || missing+=(gosu)
command -v mountpoint >/dev/null || missing+=(util-linux)
[ -x /usr/bin/time ] || missing+=(time)
command -v strip >/dev/null || missing+=(binutils)
command -v python3 >/dev/null || missing+=(python3)
command -v strace >/dev/null || missing+=(strace)
install_missing "${missing[@]}"
command -v go >/dev/null || die "go is not in PATH: the timer is built with it"

mkdir -p "$out/bin"
rm -f "$out"/*.json "$out"/*.tsv "$out/failures.txt" "$out/report.md"
log "building nsrun and the timer"
build_tools

# ---------------------------------------------------------------- binary

shim=$out/bin/agent-entrypoint
if [ -n "${AGENT_ENTRYPOINT_BENCH_BIN:-}" ]; then
	log "using $AGENT_ENTRYPOINT_BENCH_BIN instead of building"
	install -m 0755 "$AGENT_ENTRYPOINT_BENCH_BIN" "$shim"
	rm -f "$out/bin/agent-entrypoint.symbols"
else
	log "building ./cmd/agent-entrypoint"
	(
		cd "$repo" || exit
		# As released: static, reproducible, DWARF dropped, symbols kept.
		CGO_ENABLED=0 go build -trimpath -ldflags '-w -buildid=' -o "$shim" ./cmd/agent-entrypoint
		# For the size table only: the same with DWARF.
		CGO_ENABLED=0 go build -trimpath -ldflags '-buildid=' -o "$out/bin/agent-entrypoint.symbols" ./cmd/agent-entrypoint
	)
fi
strip -o "$out/bin/agent-entrypoint.stripped" "$shim"
if [ -n "${AGENT_ENTRYPOINT_BENCH_BIN:-}" ]; then
	version="from $AGENT_ENTRYPOINT_BENCH_BIN"
elif version=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null); then
	[ -z "$(git -C "$repo" status --porcelain -- cmd internal go.mod go.sum)" ] || version+=" with uncommitted changes"
	version="built from $version"
else
	version="built from a tree without git"
fi

# fixuid, scenario 5's reference: a static build from the Go module proxy,
# for the benchmark only (bench/out is not committed). It stays out when it
# cannot be had; the report says why.
fixuid_bin=$out/bin/fixuid fixuid_why=
rm -f "$fixuid_bin" "$out/fixuid-install.log"
if [ -n "${AGENT_ENTRYPOINT_BENCH_FIXUID:-}" ]; then
	install -m 0755 "$AGENT_ENTRYPOINT_BENCH_FIXUID" "$fixuid_bin"
elif command -v go >/dev/null; then
	fixuid_mod=github.com/boxboat/fixuid@${AGENT_ENTRYPOINT_BENCH_FIXUID_VERSION:-latest}
	log "go install $fixuid_mod"
	# From /: outside this module, so its go.mod plays no part.
	if ! (cd / && GOBIN=$out/bin CGO_ENABLED=0 go install -trimpath "$fixuid_mod") >"$out/fixuid-install.log" 2>&1; then
		# One line, tabs out (failures.txt is tab-separated), addresses out.
		fixuid_why="go install $fixuid_mod failed: $(tr -s '\n\t' '  ' <"$out/fixuid-install.log" | sed -E 's#[a-z]+://[^ ]*#(address)#g')"
		log "$fixuid_why"
	fi
else
	fixuid_why="no go to install it with and no AGENT_ENTRYPOINT_BENCH_FIXUID"
fi
fixuid_version=
if [ -x "$fixuid_bin" ]; then
	fixuid_version=$(go version -m "$fixuid_bin" 2>/dev/null | awk '$1 == "mod" { print $3 }') || true
	fixuid_version=${fixuid_version:-unknown version}
fi

# ---------------------------------------------------------------- rootfs

if [ ! -x "$root/usr/bin/sudo" ]; then
	if [ -d "$root" ] && [ -n "$(ls -A "$root")" ]; then
		die "$root is not empty and has no sudo: remove it or set AGENT_ENTRYPOINT_BENCH_ROOTFS elsewhere"
	fi
	command -v mmdebstrap >/dev/null || install_missing mmdebstrap
	log "building rootfs $root (once; later runs reuse it)"
	mkdir -p "$(dirname "$root")"
	rm -rf "$root.partial"
	cmd=("${recipe[@]}" --format=directory "$root.partial")
	[ -z "$mirror" ] || cmd+=("$mirror")
	"${cmd[@]}" </dev/null >&2
	[ ! -d "$root" ] || rmdir "$root"
	mv "$root.partial" "$root"
else
	log "reusing rootfs $root"
fi

accounts=(passwd group shadow gshadow subuid subgid)

# The account files as the image ships them, saved on first use.
if [ ! -d "$statedir/pristine" ]; then
	mkdir -p "$statedir/pristine"
	for f in "${accounts[@]}"; do cp -p "$root/etc/$f" "$statedir/pristine/$f"; done
fi
if awk -F: '$1 == "bench" || $3 == 1000 { bad = 1 } END { exit !bad }' "$statedir/pristine/passwd"; then
	die "$statedir/pristine/passwd already has bench or uid 1000: rebuild the rootfs"
fi

log "preparing rootfs"
# Docker puts the container's hostname into /etc/hosts; without it sudo
# resolves the hostname through DNS on every call.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n' \
	"$(hostname)" >"$root/etc/hosts"
# The seed's Dockerfile grants %sudo NOPASSWD and relies on `useradd -G sudo`.
# sudo 1.9 takes the caller's groups from the running process
# (group_source=static), which was started before the user existed and so is
# not in sudo; the rule therefore names the user the script creates.
printf '# agent-entrypoint bench: the seed script calls sudo without a terminal\nbench ALL=(ALL:ALL) NOPASSWD: ALL\n' \
	>"$root/etc/sudoers.d/agent-entrypoint-bench"
chmod 0440 "$root/etc/sudoers.d/agent-entrypoint-bench"

install -m 0755 "$shim" "$root/usr/local/bin/agent-entrypoint"
install -m 4755 "$shim" "$root/usr/local/bin/agent-entrypoint-setuid"
install -m 0755 /usr/sbin/gosu "$root/usr/local/bin/gosu"
install -m 0755 /usr/bin/time "$root/usr/local/bin/time"
install -m 0755 "$here/entry_point.sh" "$root/usr/local/bin/entry_point.sh"

# Account states: reset.sh restores one into the rootfs (scenario 5, the
# checks of profile.sh); container.sh puts its layer, ROOT.layers/STATE,
# over the rootfs (scenarios 1 to 3).
# fresh: as shipped. drop: plus bench:x:1000:1000 with a home.
# remap: plus dev:x:1000:1000, whose home is the tree of scenario 5.
# nN: as shipped plus N users and N groups (uids and gids from 100000).
make_state() {
	local name=$1 n=$2 d=$statedir/$1 f
	rm -rf "$d"
	mkdir -p "$d"
	for f in "${accounts[@]}"; do cp -p "$statedir/pristine/$f" "$d/$f"; done
	if [ "$name" = drop ]; then
		echo 'bench:x:1000:1000::/home/bench:/bin/bash' >>"$d/passwd"
		echo 'bench:x:1000:' >>"$d/group"
		echo 'bench:*:19000:0:99999:7:::' >>"$d/shadow"
		echo 'bench:!::' >>"$d/gshadow"
		touch "$d/home"
	fi
	if [ "$name" = remap ]; then
		echo 'dev:x:1000:1000::/home/dev:/bin/bash' >>"$d/passwd"
		echo 'dev:x:1000:' >>"$d/group"
		echo 'dev:*:19000:0:99999:7:::' >>"$d/shadow"
		echo 'dev:!::' >>"$d/gshadow"
	fi
	if ((n > 0)); then
		awk -v n="$n" 'BEGIN { for (i = 100000; i < 100000 + n; i++) printf "u%d:x:%d:%d::/home/u%d:/usr/sbin/nologin\n", i, i, i, i }' >>"$d/passwd"
		awk -v n="$n" 'BEGIN { for (i = 100000; i < 100000 + n; i++) printf "u%d:x:%d:\n", i, i }' >>"$d/group"
		awk -v n="$n" 'BEGIN { for (i = 100000; i < 100000 + n; i++) printf "u%d:*:19000:0:99999:7:::\n", i }' >>"$d/shadow"
		awk -v n="$n" 'BEGIN { for (i = 100000; i < 100000 + n; i++) printf "u%d:!::\n", i }' >>"$d/gshadow"
	fi
	local l=$layers/$name
	rm -rf "$l"
	mkdir -p "$l/etc"
	for f in "${accounts[@]}"; do cp -p "$d/$f" "$l/etc/$f"; done
	if [ -e "$d/home" ]; then install -d -m 0755 -o 1000 -g 1000 "$l/home/bench"; fi
}
sizes=(1000 10000 100000)
make_state fresh 0
make_state drop 0
make_state remap 0
for n in "${sizes[@]}"; do make_state "n$n" "$n"; done

# Scenario 5's home: /home/dev with 10 x 100 directories of 100 small files
# each (101,011 entries with the directories and the home), owned 1000:1000.
# Built once and kept in the rootfs; the marker names the layout, so a change
# here builds it again.
tree_layout="p{0..9}/d{00..99}/f{00..99}, one line of text per file, v1"
if [ "$(cat "$statedir/home-dev" 2>/dev/null)" != "$tree_layout" ]; then
	log "building /home/dev in the rootfs: 100k files (once; later runs reuse it)"
	rm -rf "$root/home/dev" "$root/home/dev.partial"
	for p in {0..9}; do
		for d in {00..99}; do
			mkdir -p "$root/home/dev.partial/p$p/d$d"
			for f in {00..99}; do
				printf 'file %s of dev\n' "p$p/d$d/f$f" >"$root/home/dev.partial/p$p/d$d/f$f"
			done
		done
	done
	chown -R 1000:1000 "$root/home/dev.partial"
	mv "$root/home/dev.partial" "$root/home/dev"
	echo "$tree_layout" >"$statedir/home-dev"
fi

# fixuid reads its user, group and paths from here; it runs setuid-root as
# the target uid, as its README sets it up.
mkdir -p "$root/etc/fixuid"
printf 'user: dev\ngroup: dev\npaths:\n  - /home/dev\n' >"$root/etc/fixuid/config.yml"
if [ -x "$fixuid_bin" ]; then
	install -o 0 -g 0 -m 4755 "$fixuid_bin" "$root/usr/local/bin/fixuid"
else
	rm -f "$root/usr/local/bin/fixuid"
fi

# Scenario 5's scratch space (see remap.sh): its state, its checks and the
# overlay's upper, work and merged directories.
scratch=$root.remap
unmount_overlay() {
	if mountpoint -q "$scratch/merged"; then umount "$scratch/merged"; fi
	rm -rf "$scratch/upper" "$scratch/work"
}
cleanup() {
	bash "$here/container.sh" "$root" --remove 2>/dev/null || true
	stop_agent_socket
	unmount_overlay 2>/dev/null || true
	reset fresh 2>/dev/null || true
}
trap cleanup EXIT
start_agent_socket
mkdir -p "$scratch"
rm -f "$scratch/state" "$scratch/verify.tsv"

