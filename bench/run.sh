#!/usr/bin/env bash
# bench/run.sh: time agent-entrypoint side by side with gosu, setpriv and the
# seed's sudo/useradd script (bench/entry_point.sh).
#
# Every contestant runs as a whole process, the way a container starts it:
#
#   unshare --mount --pid --fork --mount-proc=ROOT/proc chroot ROOT CMD
#
# ROOT is a Debian bookworm minbase rootfs built locally with mmdebstrap and
# cached. The namespace and chroot overhead is the same for every contestant
# and is timed on its own as the floor (`/bin/true`). Results are ratios and
# differences measured in the same hyperfine run; nothing here asserts on time.
#
# Usage: bash bench/run.sh            (as root; Debian or a derivative)
#
# Environment:
#   AGENT_ENTRYPOINT_BENCH_ROOTFS  rootfs directory to use (built there when it
#                                  has no sudo yet); it is modified by the run.
#                                  Default /var/cache/agent-entrypoint-bench/<recipe-hash>/rootfs
#   AGENT_ENTRYPOINT_BENCH_MIRROR  mirror argument for mmdebstrap (default: its own)
#   AGENT_ENTRYPOINT_BENCH_BIN     use this agent-entrypoint binary instead of building one
#   AGENT_ENTRYPOINT_BENCH_OUT     where JSON, logs and report.md go (default bench/out)
#   AGENT_ENTRYPOINT_BENCH_NICE    nice level of the timed runs (default -10)
#   AGENT_ENTRYPOINT_BENCH_QUICK=1 few runs: checks the harness, numbers are rough
set -euo pipefail

# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
quick=${AGENT_ENTRYPOINT_BENCH_QUICK:-0}
# The sudo script needs about a minute per start with 100k entries.
sudo_max=100000
[ "$quick" != 1 ] || sudo_max=10000
((sudo_max < 100000)) || sudo_slow_note=" (the sudo script with 100k entries takes about a minute)"

# ---------------------------------------------------------------- tools

# sudo and passwd are not needed on the host: mmdebstrap installs them into
# the rootfs, and setpriv runs from the rootfs's util-linux.
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/sbin/gosu ] || missing+=(gosu)
command -v unshare >/dev/null || missing+=(util-linux)
[ -x /usr/bin/time ] || missing+=(time)
command -v strip >/dev/null || missing+=(binutils)
command -v python3 >/dev/null || missing+=(python3)
install_missing "${missing[@]}"
command -v go >/dev/null || [ -n "${AGENT_ENTRYPOINT_BENCH_BIN:-}" ] ||
	die "go is not in PATH: install Go or set AGENT_ENTRYPOINT_BENCH_BIN"

mkdir -p "$out/bin"
rm -f "$out"/*.json "$out"/*.tsv "$out/failures.txt" "$out/report.md"

# ---------------------------------------------------------------- binary

shim=$out/bin/agent-entrypoint
if [ -n "${AGENT_ENTRYPOINT_BENCH_BIN:-}" ]; then
	log "using $AGENT_ENTRYPOINT_BENCH_BIN instead of building"
	install -m 0755 "$AGENT_ENTRYPOINT_BENCH_BIN" "$shim"
	rm -f "$out/bin/agent-entrypoint.symbols"
else
	log "building ./cmd/agent-entrypoint"
	(
		cd "$repo"
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

# Account states the prepare hook (reset.sh) restores.
# fresh: as shipped. drop: plus bench:x:1000:1000 with a home.
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
	if ((n > 0)); then
		awk -v n="$n" 'BEGIN { for (i = 100000; i < 100000 + n; i++) printf "u%d:x:%d:%d::/home/u%d:/usr/sbin/nologin\n", i, i, i, i }' >>"$d/passwd"
		awk -v n="$n" 'BEGIN { for (i = 100000; i < 100000 + n; i++) printf "u%d:x:%d:\n", i, i }' >>"$d/group"
		awk -v n="$n" 'BEGIN { for (i = 100000; i < 100000 + n; i++) printf "u%d:*:19000:0:99999:7:::\n", i }' >>"$d/shadow"
		awk -v n="$n" 'BEGIN { for (i = 100000; i < 100000 + n; i++) printf "u%d:!::\n", i }' >>"$d/gshadow"
	fi
}
sizes=(1000 10000 100000)
make_state fresh 0
make_state drop 0
for n in "${sizes[@]}"; do make_state "n$n" "$n"; done

cleanup() {
	stop_agent_socket
	reset fresh 2>/dev/null || true
}
trap cleanup EXIT
start_agent_socket

# ---------------------------------------------------------------- contestants

# Each contestant: chroot options and the argv before the payload command.
declare -A chopt argv0
chopt[floor]="" argv0[floor]=""
chopt[gosu]="" argv0[gosu]="/usr/local/bin/gosu 1000:1000"
chopt[setpriv]="" argv0[setpriv]="/usr/bin/setpriv --reuid 1000 --regid 1000 --init-groups"
# Scenario 1 gives the target in the environment (see env_drop).
chopt[shim_env]="" argv0[shim_env]="/usr/local/bin/agent-entrypoint --"
# Scenarios 2 and 3 give it as flags, so that the environment, which all
# contestants of a run share, stays clean for the setuid row.
chopt[shim]="" argv0[shim]="/usr/local/bin/agent-entrypoint --uid 1000 --gid 1000 --"
# The seed's case: started as 1000:1000 (docker run --user), binary setuid-root.
chopt[shim_suid]="--userspec=1000:1000" argv0[shim_suid]="/usr/local/bin/agent-entrypoint-setuid --"
chopt[sudo]="--userspec=1000:1000" argv0[sudo]="/usr/local/bin/entry_point.sh"

# command KEY PAYLOAD prints the whole command line of a contestant.
command_of() {
	local c="$ns chroot"
	[ -z "${chopt[$1]}" ] || c+=" ${chopt[$1]}"
	c+=" $root"
	[ -z "${argv0[$1]}" ] || c+=" ${argv0[$1]}"
	printf '%s %s' "$c" "$2"
}
prepare_of() { printf 'bash %s/reset.sh %s %s' "$here" "$root" "$1"; }


# ---------------------------------------------------------------- checks

# check LABEL STATE KIND ENVNAME KEY runs a contestant once with `id` as the
# payload, shows what it did, and records it in failures.txt when it failed.
# KIND is none (only the exit status counts), drop (the payload runs as
# 1000:1000) or full (also: passwd entry, home and socket grant afterwards).
ok_keys=()
check() {
	local label=$1 state=$2 kind=$3 envname=$4 key=$5
	local -n envref=$envname
	local cmd rc=0 stdout stderr why="" pw home sock
	reset "$state"
	cmd=$(command_of "$key" /usr/bin/id)
	# shellcheck disable=SC2086 # $cmd is a command line, split on purpose
	stdout=$(env -i "${envref[@]}" $cmd 2>"$out/stderr.tmp") || rc=$?
	stderr=$(cat "$out/stderr.tmp")
	rm -f "$out/stderr.tmp"
	pw=$(awk -F: '$3 == 1000' "$root/etc/passwd")
	home=$(stat -c '%A %u:%g %n' "$root/home/bench" 2>/dev/null || echo "no /home/bench")
	sock=$(stat -c '%a %u:%g' "$root$sockpath")
	if [ "$rc" != 0 ]; then
		why="exit status $rc"
	elif [ "$kind" = none ]; then
		:
	elif [[ $stdout != uid=1000\(*\)\ gid=1000\(* && $stdout != uid=1000\ gid=1000* ]]; then
		why="payload did not run as 1000:1000: $stdout"
	elif [ "$kind" = full ] && [ -z "$pw" ]; then
		why="no passwd entry for uid 1000 afterwards"
	elif [ "$kind" = full ] && [[ $home != *" 1000:1000 "* ]]; then
		why="home not created for 1000:1000: $home"
	elif [ "$kind" = full ] && [ "${sock%% *}" = 755 ] && [ "${sock#* }" = 0:0 ]; then
		why="agent socket left unchanged: $sock"
	fi
	if [ -n "$why" ]; then
		log "FAILED $label: $why"
		log "  command: env ${envref[*]:4} $cmd"
		[ -z "$stderr" ] || printf '%s\n' "$stderr" | sed 's/^/bench:   stderr: /' >&2
		{
			printf '%s\t%s\t%s\t%s\n' "$label" "$why" "$cmd" "$(printf '%s' "$stderr" | tr '\n' ' ')"
		} >>"$out/failures.txt"
		return 0
	fi
	log "ok $label: $stdout"
	if [ "$kind" = full ]; then
		log "   passwd: $pw | home: $home | socket: $sock"
	fi
	[ -z "$stderr" ] || printf '%s\n' "$stderr" | sed 's/^/bench:   stderr: /' >&2
	ok_keys+=("$label")
}
is_ok() {
	local k
	for k in "${ok_keys[@]}"; do [ "$k" != "$1" ] || return 0; done
	return 1
}

log "checking every contestant once${sudo_slow_note:-}"
check "s1 floor" drop none env_drop floor
check "s1 gosu" drop drop env_drop gosu
check "s1 setpriv" drop drop env_drop setpriv
check "s1 agent-entrypoint" drop drop env_drop shim_env
check "s2 gosu" fresh drop env_full gosu
check "s2 agent-entrypoint" fresh full env_full shim
check "s2 agent-entrypoint setuid" fresh full env_full shim_suid
check "s2 sudo script" fresh full env_full sudo
for n in "${sizes[@]}"; do
	check "s3 agent-entrypoint n=$n" "n$n" full env_full shim
	if ((n <= sudo_max)); then check "s3 sudo script n=$n" "n$n" full env_full sudo; fi
done

# ---------------------------------------------------------------- hyperfine

if [ "$quick" = 1 ]; then
	runs1=20 warm1=3 runs2=10 warm2=2 runs3=5 warm3=1 runs3_slow=1 rssn=2
else
	runs1=300 warm1=20 runs2=100 warm2=10 runs3=40 warm3=3 runs3_slow=2 rssn=5
fi
style=()
[ -t 1 ] || style=(--style basic)
# Above-normal CPU priority for hyperfine and what it starts, the same for
# every contestant: less noise from whatever else the machine is doing.
nice=${AGENT_ENTRYPOINT_BENCH_NICE:--10}

names=() cmds=() preps=()
add() { # add NAME KEY [STATE]
	names+=("$1")
	cmds+=("$(command_of "$2" /bin/true)")
	if [ -n "${3:-}" ]; then preps+=("$(prepare_of "$3")"); fi
}
# hf JSON RUNS WARMUP ENVNAME runs one hyperfine with everything add()ed.
hf() {
	local json=$1 runs=$2 warmup=$3 i
	local -n envref=$4
	local args=(-N --warmup "$warmup" --runs "$runs" --time-unit millisecond --export-json "$out/$json.json" "${style[@]}")
	for i in "${!preps[@]}"; do args+=(--prepare "${preps[i]}"); done
	for i in "${!names[@]}"; do args+=(--command-name "${names[i]}"); done
	args+=("${cmds[@]}")
	env -i "${envref[@]}" nice -n "$nice" hyperfine "${args[@]}"
	names=() cmds=() preps=()
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${load_before%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	log "warning: load ${load_before%% *} on $(nproc) CPUs: expect noisy numbers (the report records the load)"
fi
log "scenario 1: drop only (user bench:1000 exists)"
reset drop
add "floor (/bin/true)" floor
add "gosu" gosu
if is_ok "s1 setpriv"; then add "setpriv" setpriv; fi
if is_ok "s1 agent-entrypoint"; then add "agent-entrypoint" shim_env; fi
hf s1-drop "$runs1" "$warm1" env_drop

log "scenario 2: full start (create user, group, home; grant the socket; drop; exec)"
add "floor (/bin/true)" floor fresh
add "gosu, drop only (reference)" gosu fresh
if is_ok "s2 agent-entrypoint"; then add "agent-entrypoint" shim fresh; fi
if is_ok "s2 agent-entrypoint setuid"; then add "agent-entrypoint setuid --user" shim_suid fresh; fi
if is_ok "s2 sudo script"; then add "sudo script" sudo fresh; fi
hf s2-full "$runs2" "$warm2" env_full

log "scenario 3: full start with large /etc/passwd and /etc/group"
add "floor (/bin/true)" floor fresh
add "gosu, drop only (reference)" gosu fresh
for n in "${sizes[@]}"; do
	if is_ok "s3 agent-entrypoint n=$n"; then add "agent-entrypoint n=$n" shim "n$n"; fi
done
for n in "${sizes[@]}"; do
	if ((n < 100000)) && is_ok "s3 sudo script n=$n"; then add "sudo script n=$n" sudo "n$n"; fi
done
hf s3-growth "$runs3" "$warm3" env_full

# useradd and groupadd are superlinear in the size of the account files: one
# start of the sudo script with 100k entries takes tens of seconds, so it
# gets its own hyperfine invocation with only a couple of runs.
if is_ok "s3 sudo script n=100000"; then
	log "scenario 3: the sudo script with 100k entries ($runs3_slow runs, ~1 minute each)"
	add "sudo script n=100000" sudo n100000
	hf s3-growth-slow "$runs3_slow" 0 env_full
fi

# ---------------------------------------------------------------- size, memory

log "scenario 4: size and peak RSS"
{
	printf 'agent-entrypoint (as built: -trimpath -w -buildid=)\t%s\n' "$(stat -c %s "$shim")"
	printf 'agent-entrypoint (strip)\t%s\n' "$(stat -c %s "$out/bin/agent-entrypoint.stripped")"
	if [ -e "$out/bin/agent-entrypoint.symbols" ]; then
		printf 'agent-entrypoint (with DWARF: no -w)\t%s\n' "$(stat -c %s "$out/bin/agent-entrypoint.symbols")"
	fi
	printf 'gosu (Debian %s)\t%s\n' "$(dpkg-query -W -f '${Version}' gosu 2>/dev/null || echo '?')" "$(stat -c %s /usr/sbin/gosu)"
} >"$out/sizes.tsv"

# rss LABEL NAME STATE ENVNAME KEY [RUNS]: peak RSS in KiB (GNU time %M, the
# largest single process of the contestant's tree) of RUNS (default RSSN)
# runs, with time running inside the chroot so unshare and chroot are not
# counted. LABEL is the contestant's check label, NAME the row in the report.
rss() {
	local label=$1 name=$2 state=$3 key=$5 n=${6:-$rssn} i vals=() c
	local -n envref=$4
	is_ok "$label" || return 0
	for ((i = 0; i < n; i++)); do
		reset "$state"
		rm -f "$root/tmp/agent-entrypoint-bench.rss"
		c="$ns chroot"
		[ -z "${chopt[$key]}" ] || c+=" ${chopt[$key]}"
		c+=" $root /usr/local/bin/time -f %M -o /tmp/agent-entrypoint-bench.rss"
		[ -z "${argv0[$key]}" ] || c+=" ${argv0[$key]}"
		# shellcheck disable=SC2086 # $c is a command line, split on purpose
		env -i "${envref[@]}" $c /bin/true >/dev/null 2>&1 || true
		vals+=("$(cat "$root/tmp/agent-entrypoint-bench.rss" 2>/dev/null || echo NA)")
	done
	printf '%s\t%s\n' "$name" "${vals[*]}" >>"$out/rss.tsv"
}
: >"$out/rss.tsv"
rss "s1 floor" "floor (/bin/true)" drop env_drop floor
rss "s1 gosu" "gosu, drop only" drop env_drop gosu
rss "s1 setpriv" "setpriv, drop only" drop env_drop setpriv
rss "s1 agent-entrypoint" "agent-entrypoint, drop only" drop env_drop shim_env
rss "s2 agent-entrypoint" "agent-entrypoint, full start" fresh env_full shim
rss "s2 agent-entrypoint setuid" "agent-entrypoint setuid --user, full start" fresh env_full shim_suid
rss "s2 sudo script" "sudo script, full start" fresh env_full sudo
rss "s3 agent-entrypoint n=100000" "agent-entrypoint, full start, n=100000" n100000 env_full shim
rss "s3 sudo script n=100000" "sudo script, full start, n=100000" n100000 env_full sudo 1

# ---------------------------------------------------------------- report

{
	echo "# agent-entrypoint benchmark"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(uname -srm), $(nproc) CPUs, load $load_before at start, $(hyperfine --version) at nice $nice,"
	echo "agent-entrypoint $version, rootfs \`${recipe[*]}\` at \`$root\`."
	echo
	python3 "$here/report.py" "$out"
} >"$out/report.md"
cat "$out/report.md"
log "report: $out/report.md (raw: $out/*.json)"
