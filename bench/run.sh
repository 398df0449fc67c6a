#!/usr/bin/env bash
# bench/run.sh: time agent-entrypoint side by side with gosu, setpriv and the
# seed's sudo/useradd script (bench/entry_point.sh), and its move of an image
# user's 100k files side by side with chown -R and fixuid (scenario 5, with
# bench/remap.sh).
#
# Every contestant runs as a whole process, the way a container starts it:
#
#   nsrun [-u UID:GID] TOP CMD    (bench/nsrun/nsrun.c)
#
# nsrun unshares mount and pid namespaces, mounts /proc, chroots into TOP and
# execs CMD as PID 1. For scenarios 1 to 3 TOP is a fresh container root for
# every start (container.sh): an overlay of the account state over ROOT, a
# Debian bookworm minbase rootfs built locally with mmdebstrap and cached.
# The namespace, overlay and chroot overhead is the same for every
# contestant and is timed on its own as the floor (`/bin/true`). The timer
# (bench/timer) runs a scenario's contestants interleaved, in a new random
# order every round. Results are ratios and differences measured in the
# same run; nothing here asserts on time.
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
#   AGENT_ENTRYPOINT_BENCH_FIXUID  use this fixuid binary instead of go install
#   AGENT_ENTRYPOINT_BENCH_FIXUID_VERSION  the version go install fetches (default latest)
set -euo pipefail

# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
quick=${AGENT_ENTRYPOINT_BENCH_QUICK:-0}
# The sudo script needs about a minute per start with 100k entries.
sudo_max=100000
[ "$quick" != 1 ] || sudo_max=10000
((sudo_max < 100000)) || sudo_slow_note=" (the sudo script with 100k entries takes about a minute)"

# ---------------------------------------------------------------- setup

# shellcheck source=setup.sh source-path=SCRIPTDIR
. "$here/setup.sh"

# ---------------------------------------------------------------- contestants

# Each contestant: nsrun options and the argv before the payload command.
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
chopt[shim_suid]="-u 1000:1000" argv0[shim_suid]="/usr/local/bin/agent-entrypoint-setuid --"
chopt[sudo]="-u 1000:1000" argv0[sudo]="/usr/local/bin/entry_point.sh"

# command KEY PAYLOAD prints the whole command line of a contestant, started
# in the container root.
command_of() {
	local c=$ns
	[ -z "${chopt[$1]}" ] || c+=" ${chopt[$1]}"
	c+=" $top"
	[ -z "${argv0[$1]}" ] || c+=" ${argv0[$1]}"
	printf '%s %s' "$c" "$2"
}
prepare_of() { printf 'bash %s/container.sh %s %s' "$here" "$root" "$1"; }

# Scenario 5 (remap): the contestants that move dev from 1000:1000 to
# 2000:2000. remap_cmd MODE KEY PAYLOAD prints the command line; in the
# overlay mode the root is the overlay mount, not the rootfs itself.
env_remap=("${base_env[@]}")
remap_cmd() {
	local top=$root c=$ns
	[ "$1" != overlay ] || top=$scratch/merged
	case $2 in
	floor) c+=" $top $3" ;;
	# Root start, the target as flags; --name names the image user to move.
	shim) c+=" $top /usr/local/bin/agent-entrypoint --uid 2000 --gid 2000 --name dev -- $3" ;;
	# The tree only: chown -R neither edits the account files nor runs a command.
	chown) c+=" $top /bin/chown -R 2000:2000 /home/dev" ;;
	# The same job as the shim's walk: only what the old owner owns changes,
	# which takes a stat of every entry, as the walk does.
	chown_from) c+=" $top /bin/chown -R --from=1000:1000 2000:2000 /home/dev" ;;
	# Setuid root, started as the target uid and gid (docker run --user).
	fixuid) c+=" -u 2000:2000 $top /usr/local/bin/fixuid -q $3" ;;
	esac
	printf '%s' "$c"
}
remap_prep() { # MODE first|again KEY
	local p
	p=$(printf 'bash %s/remap.sh %s %s %s %s' "$here" "$root" "$1" "$2" "$3")
	[ "$2" != again ] || p+=" $(remap_cmd "$1" "$3" /bin/true)"
	printf '%s' "$p"
}


# ---------------------------------------------------------------- scenarios

# Scenarios 1 to 3: contestants started in a fresh container root of an
# account state, timed interleaved within their scenario. A new scenario or
# contestant is a row here, not a section.
#
# A scenario: ID, the timer's JSON (report.py reads it by that name), the
# environment every contestant of it gets, the variables that hold its runs
# and warm-up rounds (see timing), and its title.
start_scenarios="\
s1	s1-drop	env_drop	runs1 warm1	drop only (user bench:1000 exists)
s2	s2-full	env_full	runs2 warm2	full start (create user, group, home; grant the socket; drop; exec)
s3	s3-growth	env_full	runs3 warm3	full start with large /etc/passwd and /etc/group"
# useradd and groupadd are superlinear in the size of the account files: one
# start of the sudo script with 100k entries takes tens of seconds, so it
# gets its own timer run with only a couple of rounds.
start_scenarios+="
s3-slow	s3-growth-slow	env_full	runs3_slow warm3_slow	the sudo script with 100k entries (about a minute per start)"
#
# A contestant: its scenario, the account state under its container root,
# its key (see contestants), what its check verifies (check below; - for
# none: timed as it is) and its name in the report (report.py reads them).
start_contestants="\
s1	drop	floor	none	floor (/bin/true)
s1	drop	gosu	drop	gosu
s1	drop	setpriv	drop	setpriv
s1	drop	shim_env	drop	agent-entrypoint
s2	fresh	floor	-	floor (/bin/true)
s2	fresh	gosu	drop	gosu, drop only (reference)
s2	fresh	shim	full	agent-entrypoint
s2	fresh	shim_suid	full	agent-entrypoint setuid --user
s2	fresh	sudo	full	sudo script
s3	fresh	floor	-	floor (/bin/true)
s3	fresh	gosu	-	gosu, drop only (reference)"
for n in "${sizes[@]}"; do
	start_contestants+=$'\n'"s3	n$n	shim	full	agent-entrypoint n=$n"
done
for n in "${sizes[@]}"; do
	if ((n > sudo_max)); then continue; fi
	s=s3
	((n < 100000)) || s=s3-slow
	start_contestants+=$'\n'"$s	n$n	sudo	full	sudo script n=$n"
done
# scenario_env ID prints the name of scenario ID's environment array.
scenario_env() { awk -F'\t' -v id="$1" '$1 == id { print $3 }' <<<"$start_scenarios"; }

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
	bash "$here/container.sh" "$root" "$state"
	cmd=$(command_of "$key" /usr/bin/id)
	# shellcheck disable=SC2086 # $cmd is a command line, split on purpose
	stdout=$(env -i "${envref[@]}" $cmd 2>"$out/stderr.tmp") || rc=$?
	stderr=$(cat "$out/stderr.tmp")
	rm -f "$out/stderr.tmp"
	pw=$(awk -F: '$3 == 1000' "$top/etc/passwd")
	home=$(stat -c '%A %u:%g %n' "$top/home/bench" 2>/dev/null || echo "no /home/bench")
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

# check_remap LABEL KEY runs a scenario 5 contestant twice on the rootfs,
# first after a reset (the move) and then again as it left things (its
# no-op start), with `id` as the payload where it takes one, and shows what
# it did: the payload's ids, remap.sh's verdict on the tree and on dev's
# passwd line, and the second start's ids.
check_remap() {
	local label=$1 key=$2 cmd rc=0 rc2=0 stdout stdout2="" stderr why="" v=""
	bash "$here/remap.sh" "$root" warm first "$key"
	cmd=$(remap_cmd warm "$key" /usr/bin/id)
	# shellcheck disable=SC2086 # $cmd is a command line, split on purpose
	stdout=$(env -i "${env_remap[@]}" $cmd 2>"$out/stderr.tmp") || rc=$?
	stderr=$(cat "$out/stderr.tmp")
	if [ "$rc" = 0 ]; then
		# Checks the tree and passwd, then leaves them for the second start.
		# shellcheck disable=SC2086
		bash "$here/remap.sh" "$root" warm again "$key" $cmd
		v=$(tail -n 1 "$scratch/verify.tsv" | cut -f 3-)
		# shellcheck disable=SC2086
		stdout2=$(env -i "${env_remap[@]}" $cmd 2>"$out/stderr.tmp") || rc2=$?
		stderr+=$(cat "$out/stderr.tmp")
	fi
	rm -f "$out/stderr.tmp"
	if [ "$rc" != 0 ]; then
		why="exit status $rc"
	elif [[ $v != ok* ]]; then
		why="after the first start: ${v#*$'\t'}"
	elif [[ $key != chown* ]] && [[ $stdout != uid=2000\(dev\)\ gid=2000\(dev\)* ]]; then
		why="payload did not run as dev 2000:2000: $stdout"
	elif [ "$rc2" != 0 ]; then
		why="second start: exit status $rc2"
	elif [[ $key != chown* ]] && [[ $stdout2 != uid=2000\(dev\)\ gid=2000\(dev\)* ]]; then
		why="second start: payload did not run as dev 2000:2000: $stdout2"
	fi
	if [ -n "$why" ]; then
		log "FAILED $label: $why"
		log "  command: env ${env_remap[*]:4} $cmd"
		[ -z "$stderr" ] || printf '%s\n' "$stderr" | sed 's/^/bench:   stderr: /' >&2
		printf '%s\t%s\t%s\t%s\n' "$label" "$why" "$cmd" "$(printf '%s' "$stderr" | tr '\n' ' ')" >>"$out/failures.txt"
		return 0
	fi
	log "ok $label: ${stdout:-exit 0} | ${v#*$'\t'} | second start: ${stdout2:-exit 0}"
	[ -z "$stderr" ] || printf '%s\n' "$stderr" | sed 's/^/bench:   stderr: /' >&2
	ok_keys+=("$label")
}

log "checking every contestant once${sudo_slow_note:-}"
# The rootfs as shipped under every container root of scenarios 1 to 3.
reset fresh
# Each contestant of scenarios 1 to 3 is checked as "SCENARIO NAME".
while IFS=$'\t' read -r -u 3 id state key kind name; do
	[ "$kind" = - ] || check "$id $name" "$state" "$kind" "$(scenario_env "$id")" "$key"
done 3<<<"$start_contestants"
check_remap "s5 agent-entrypoint" shim
check_remap "s5 chown -R" chown
check_remap "s5 chown -R --from" chown_from
if [ -x "$fixuid_bin" ]; then
	check_remap "s5 fixuid" fixuid
else
	printf '%s\t%s\t%s\t%s\n' "s5 fixuid" "not installed" "${fixuid_mod:-go install github.com/boxboat/fixuid}" "$fixuid_why" >>"$out/failures.txt"
fi

# ---------------------------------------------------------------- timing

# Scenario 5: runs5 in the page cache, runs5_cold with it dropped before
# every run, runs5_ovl on overlayfs (tens of seconds per first start, plus
# about ten for the wipe of the upper layer in the prepare hook).
# The scenario tables name these; the loops read them as ${!runsvar}.
# shellcheck disable=SC2034
if [ "$quick" = 1 ]; then
	runs1=20 warm1=3 runs2=10 warm2=2 runs3=5 warm3=1 runs3_slow=1 warm3_slow=0 rssn=2
	runs5=3 warm5=0 runs5_cold=1 runs5_ovl=1
else
	runs1=300 warm1=20 runs2=100 warm2=10 runs3=40 warm3=3 runs3_slow=2 warm3_slow=0 rssn=5
	runs5=10 warm5=1 runs5_cold=5 runs5_ovl=3
fi
# Above-normal CPU priority for the timer and what it starts, the same for
# every contestant: less noise from whatever else the machine is doing.
nice=${AGENT_ENTRYPOINT_BENCH_NICE:--10}

names=() cmds=() preps=()
add() { # add NAME KEY STATE: a contestant started in a fresh container root
	names+=("$1")
	cmds+=("$(command_of "$2" /bin/true)")
	preps+=("$(prepare_of "$3")")
}
# hf JSON RUNS WARMUP ENVNAME [TIMER FLAGS] times everything add()ed in one
# interleaved run.
hf() {
	local json=$1 runs=$2 warmup=$3 i
	local -n envref=$4
	local args=(-runs "$runs" -warmup "$warmup" -json "$out/$json.json" "${@:5}")
	for i in "${!names[@]}"; do args+=("${names[i]}" "${preps[i]}" "${cmds[i]}"); done
	local rc=0
	env -i "${envref[@]}" nice -n "$nice" "$timer" "${args[@]}" || rc=$?
	names=() cmds=() preps=()
	return "$rc"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${load_before%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	log "warning: load ${load_before%% *} on $(nproc) CPUs: expect noisy numbers (the report records the load)"
fi
while IFS=$'\t' read -r -u 3 id json envname counts title; do
	read -r runsvar warmvar <<<"$counts"
	while IFS=$'\t' read -r -u 4 cid state key kind name; do
		if [ "$cid" = "$id" ] && { [ "$kind" = - ] || is_ok "$id $name"; }; then
			add "$name" "$key" "$state"
		fi
	done 4<<<"$start_contestants"
	if [ ${#names[@]} -eq 0 ]; then continue; fi
	log "scenario ${id#s}: $title (${!runsvar} runs)"
	hf "$json" "${!runsvar}" "${!warmvar}" "$envname"
done 3<<<"$start_scenarios"
# Scenario 5 changes the rootfs itself: no container may have it as a layer.
bash "$here/container.sh" "$root" --remove

# Scenario 5: one timer run per setup, in rounds of a fixed order (-fixed):
# each contestant's first start comes after a reset (remap.sh first), its
# second start right after, on the state its own first start left (remap.sh
# again): the no-op start of a restarted container.
declare -A remap_name=(
	[shim first]="agent-entrypoint, first start" [shim again]="agent-entrypoint, no-op start"
	[chown first]="chown -R, first run" [chown again]="chown -R, second run"
	[chown_from first]="chown -R --from, first run" [chown_from again]="chown -R --from, second run"
	[fixuid first]="fixuid, first start" [fixuid again]="fixuid, second start"
)
declare -A remap_label=([shim]="s5 agent-entrypoint" [chown]="s5 chown -R" [chown_from]="s5 chown -R --from" [fixuid]="s5 fixuid")
add_remap() { # MODE
	local key step
	names+=("floor (/bin/true)")
	cmds+=("$(remap_cmd "$1" floor /bin/true)")
	preps+=("$(remap_prep "$1" first floor)")
	for key in shim chown chown_from fixuid; do
		is_ok "${remap_label[$key]}" || continue
		for step in first again; do
			names+=("${remap_name[$key $step]}")
			cmds+=("$(remap_cmd "$1" "$key" /bin/true)")
			preps+=("$(remap_prep "$1" "$step" "$key")")
		done
	done
}
# remap_run MODE JSON RUNS WARMUP times one setup, then turns remap.sh's
# checks of its timed runs into failures.
remap_run() {
	local mode=$1 line
	add_remap "$mode"
	if ! hf "$2" "$3" "$4" env_remap -fixed; then
		log "scenario 5 ($mode): the timer failed"
		printf '%s\t%s\t%s\t%s\n' "s5 $mode" "the timer failed" "see the log" "" >>"$out/failures.txt"
	fi
	while IFS= read -r line; do
		log "FAILED s5 $mode: $line"
		printf '%s\t%s\t%s\t%s\n' "s5 $mode $(cut -f 2 <<<"$line")" "timed run: $(cut -f 4 <<<"$line")" "" "" >>"$out/failures.txt"
	done < <(awk -F'\t' -v m="$mode" '$1 == m && $3 != "ok"' "$scratch/verify.tsv" 2>/dev/null)
}
# What the report says about the setups (report.py reads it).
remap_note() { printf '%s\t%s\n' "$1" "$2" >>"$out/remap.tsv"; }
: >"$out/remap.tsv"
remap_note tree "$(find "$root/home/dev" -type d | wc -l) directories and $(find "$root/home/dev" -type f | wc -l) files ($(du -s --apparent-size -B1 "$root/home/dev" | cut -f 1) bytes apparent), $(stat -f -c %T "$root") at $root"
remap_note fixuid "${fixuid_version:+github.com/boxboat/fixuid $fixuid_version, CGO_ENABLED=0}${fixuid_why}"
if is_ok "s5 agent-entrypoint" || is_ok "s5 chown -R"; then
	rm -f "$scratch/verify.tsv"
	log "scenario 5: remap 100k files from 1000:1000 to 2000:2000, page cache warm ($runs5 runs)"
	remap_run warm s5-remap "$runs5" "$warm5"
	remap_note warm "ext4 rootfs, page cache warm (the reset before every run reads the whole tree)"

	if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
		log "scenario 5: the same with the page cache dropped before every run ($runs5_cold runs)"
		remap_run cold s5-remap-cold "$runs5_cold" 0
		remap_note cold "ext4 rootfs, page cache dropped (sync; echo 3 >/proc/sys/vm/drop_caches) before every run"
	else
		log "scenario 5: cannot write /proc/sys/vm/drop_caches: no cold-cache row"
		remap_note cold "not measured: /proc/sys/vm/drop_caches is not writable here"
	fi

	# The overlay's lower layer is the rootfs in its state before any move;
	# nothing changes it while the overlay is mounted.
	bash "$here/remap.sh" "$root" warm first floor
	if ovl_err=$(bash "$here/remap.sh" "$root" overlay first floor 2>&1); then
		log "scenario 5: the same on overlayfs, a fresh upper layer for every first start ($runs5_ovl runs)"
		remap_run overlay s5-remap-overlay "$runs5_ovl" 0
		remap_note overlay "overlayfs: lower = the rootfs, upper and work in $(stat -f -c %T "$scratch") at $scratch, both fresh for every first start; metacopy=$(cat /sys/module/overlay/parameters/metacopy 2>/dev/null || echo '?'); page cache warm"
	else
		log "scenario 5: cannot mount overlayfs here: no overlay row: $ovl_err"
		remap_note overlay "not measured: mounting overlayfs failed: $(tr '\n' ' ' <<<"$ovl_err")"
	fi
	unmount_overlay
fi
# Scenario 5 left the rootfs in its own state; the rest starts in containers
# of the states of scenarios 1 to 3 again.
reset fresh

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

# rss LABEL NAME STATE ENVNAME KEY [RUNS]: peak RSS in KiB and minor page
# faults (GNU time %M, the largest single process of the contestant's tree,
# and %R, the faults of the whole tree) of RUNS (default RSSN) runs in a
# fresh container root, with time running inside it so nsrun is not
# counted. LABEL is the contestant's check label, NAME the row in the
# report.
rss() {
	local label=$1 name=$2 state=$3 key=$5 n=${6:-$rssn} i vals=() c
	local -n envref=$4
	is_ok "$label" || return 0
	for ((i = 0; i < n; i++)); do
		bash "$here/container.sh" "$root" "$state"
		# A result left in the rootfs by an older run would show through
		# where the contestant, not root, cannot replace it.
		rm -f "$top/tmp/agent-entrypoint-bench.rss"
		c=$ns
		[ -z "${chopt[$key]}" ] || c+=" ${chopt[$key]}"
		c+=" $top /usr/local/bin/time -f %M,%R -o /tmp/agent-entrypoint-bench.rss"
		[ -z "${argv0[$key]}" ] || c+=" ${argv0[$key]}"
		# shellcheck disable=SC2086 # $c is a command line, split on purpose
		env -i "${envref[@]}" $c /bin/true >/dev/null 2>&1 || true
		vals+=("$(cat "$top/tmp/agent-entrypoint-bench.rss" 2>/dev/null || echo NA)")
	done
	printf '%s\t%s\n' "$name" "${vals[*]}" >>"$out/rss.tsv"
}
: >"$out/rss.tsv"
rss "s1 floor (/bin/true)" "floor (/bin/true)" drop env_drop floor
rss "s1 gosu" "gosu, drop only" drop env_drop gosu
rss "s1 setpriv" "setpriv, drop only" drop env_drop setpriv
rss "s1 agent-entrypoint" "agent-entrypoint, drop only" drop env_drop shim_env
rss "s2 agent-entrypoint" "agent-entrypoint, full start" fresh env_full shim
rss "s2 agent-entrypoint setuid --user" "agent-entrypoint setuid --user, full start" fresh env_full shim_suid
rss "s2 sudo script" "sudo script, full start" fresh env_full sudo
rss "s3 agent-entrypoint n=100000" "agent-entrypoint, full start, n=100000" n100000 env_full shim
rss "s3-slow sudo script n=100000" "sudo script, full start, n=100000" n100000 env_full sudo 1
# syscalls_start LABEL NAME STATE ENVNAME KEY: the system calls of one start
# of a contestant of scenarios 1 to 3, counted with strace -f -c (nsrun's
# included, as in the floor's).
: >"$out/start-syscalls.tsv"
syscalls_start() {
	local label=$1 name=$2 state=$3 key=$5 c calls
	local -n envref=$4
	is_ok "$label" || return 0
	bash "$here/container.sh" "$root" "$state"
	c=$(command_of "$key" /bin/true)
	# shellcheck disable=SC2086 # $c is a command line, split on purpose
	env -i "${envref[@]}" strace -f -c -o "$out/strace-start.txt" $c >/dev/null 2>&1 || return 0
	calls=$(awk '$NF == "total" { print $4 }' "$out/strace-start.txt")
	printf '%s\t%s\n' "$name" "$calls" >>"$out/start-syscalls.tsv"
}
log "scenarios 1 and 2: system calls of one start (strace -f -c)"
syscalls_start "s1 floor (/bin/true)" "floor (/bin/true)" drop env_drop floor
syscalls_start "s1 gosu" "gosu, drop only" drop env_drop gosu
syscalls_start "s1 setpriv" "setpriv, drop only" drop env_drop setpriv
syscalls_start "s1 agent-entrypoint" "agent-entrypoint, drop only" drop env_drop shim_env
syscalls_start "s2 agent-entrypoint" "agent-entrypoint, full start" fresh env_full shim
rm -f "$out/strace-start.txt"

# Scenario 5 changes the rootfs itself: no container may have it as a layer.
bash "$here/container.sh" "$root" --remove
# rss_remap KEY NAME: the same for a first start of scenario 5 (page cache
# warm), GNU time inside the chroot as the contestant's uid.
rss_remap() {
	local key=$1 name=$2 i vals=() c
	is_ok "${remap_label[$key]}" || return 0
	for ((i = 0; i < rssn; i++)); do
		bash "$here/remap.sh" "$root" warm first "$key"
		rm -f "$root/tmp/agent-entrypoint-bench.rss"
		c=$(remap_cmd warm "$key" /bin/true)
		c=${c/" $root "/" $root /usr/local/bin/time -f %M,%R -o /tmp/agent-entrypoint-bench.rss "}
		# shellcheck disable=SC2086 # $c is a command line, split on purpose
		env -i "${env_remap[@]}" $c >/dev/null 2>&1 || true
		vals+=("$(cat "$root/tmp/agent-entrypoint-bench.rss" 2>/dev/null || echo NA)")
	done
	printf '%s\t%s\n' "$name" "${vals[*]}" >>"$out/rss.tsv"
}
rss_remap shim "agent-entrypoint, remap of 100k files"
rss_remap chown "chown -R, remap of 100k files"
rss_remap chown_from "chown -R --from, remap of 100k files"
rss_remap fixuid "fixuid, remap of 100k files"

# syscalls_remap KEY NAME: the system calls of one first start of scenario 5
# (page cache warm), counted with strace -f -c, per entry of the tree: the
# walk's cost in the kernel, next to chown -R's with and without --from.
: >"$out/syscalls.tsv"
syscalls_remap() {
	local key=$1 name=$2 c calls entries
	[ "$key" = floor ] || is_ok "${remap_label[$key]}" || return 0
	bash "$here/remap.sh" "$root" warm first "$key"
	c=$(remap_cmd warm "$key" /bin/true)
	# shellcheck disable=SC2086 # $c is a command line, split on purpose
	env -i "${env_remap[@]}" strace -f -c -o "$out/strace-remap-$key.txt" $c >/dev/null 2>&1 || return 0
	calls=$(awk '$NF == "total" { print $4 }' "$out/strace-remap-$key.txt")
	entries=$(find "$root/home/dev" | wc -l)
	printf '%s\t%s\t%s\n' "$name" "$calls" "$entries" >>"$out/syscalls.tsv"
}
log "scenario 5: system calls per entry (strace -f -c, one first start each)"
syscalls_remap floor "floor (/bin/true)"
syscalls_remap shim "agent-entrypoint, first start"
syscalls_remap chown "chown -R"
syscalls_remap chown_from "chown -R --from"

# ---------------------------------------------------------------- report

{
	echo "# agent-entrypoint benchmark"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(uname -srm), $(nproc) CPUs, load $load_before at start, bench/timer at nice $nice,"
	echo "agent-entrypoint $version, rootfs \`${recipe[*]}\` at \`$root\`."
	echo
	python3 "$here/report.py" "$out"
} >"$out/report.md"
cat "$out/report.md"
log "report: $out/report.md (raw: $out/*.json)"
