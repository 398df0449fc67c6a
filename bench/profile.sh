#!/usr/bin/env bash
# bench/profile.sh: where agent-entrypoint spends its start. Run it after
# bench/run.sh, whose rootfs and installed binary it uses:
#
#   bash bench/profile.sh
#
# Writes to bench/out/profile/ (AGENT_ENTRYPOINT_BENCH_OUT/profile):
#   steps.txt      the shim's own step durations (AGENT_ENTRYPOINT_DEBUG=1)
#   inittrace.txt  package init cost (GODEBUG=inittrace=1)
#   gctrace.txt    garbage collections with 100k account entries
#   strace-c.txt   syscall counts of one full start (strace -f -c)
#   strace-T.txt   every syscall of one full start with its duration
#   strace-drop-c.txt, strace-drop-T.txt  the same for a drop-only start
#   strace-gosu-c.txt  syscall counts of gosu's drop-only start, to compare
#   perf-stat.txt  task-clock, page faults and context switches of the drop
#                  only start, gosu's, the full start and the floor (perf stat)
#   remap-steps.txt  step durations of a remap of scenario 5's 100k files
#   perf.txt       hottest functions with 100k entries (when perf works)
#   knobs.md       runtime settings timed side by side with the timer
# Like run.sh it measures; it asserts nothing.
# shellcheck disable=SC2086 # $drop and $full are command lines, split on purpose
set -euo pipefail

# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

missing=()
command -v strace >/dev/null || missing+=(strace)
install_missing "${missing[@]}"

shim=/usr/local/bin/agent-entrypoint
if [ ! -x "$root$shim" ] || [ ! -d "$statedir/n100000" ] || [ ! -x "$ns" ] || [ ! -x "$timer" ]; then
	die "no prepared rootfs at $root: run bench/run.sh first"
fi
pdir=$out/profile
mkdir -p "$pdir"

cleanup() {
	stop_agent_socket
	reset fresh 2>/dev/null || true
}
trap cleanup EXIT
start_agent_socket

drop="$ns $root $shim -- /bin/true"
full="$ns $root $shim --uid 1000 --gid 1000 -- /bin/true"

# run_in ENVNAME [VAR=VALUE...] -- CMD... runs CMD with exactly that environment.
run_in() {
	local -n envref=$1
	shift
	local extra=()
	while [ "$1" != -- ]; do
		extra+=("$1")
		shift
	done
	shift
	env -i "${envref[@]}" "${extra[@]}" "$@"
}

log "steps"
{
	for state in drop fresh fresh fresh n100000; do
		echo "## $state"
		reset "$state"
		if [ "$state" = drop ]; then
			run_in env_drop AGENT_ENTRYPOINT_DEBUG=1 -- $drop 2>&1
		else
			run_in env_full AGENT_ENTRYPOINT_DEBUG=1 -- $full 2>&1
		fi
	done
} >"$pdir/steps.txt"

log "inittrace"
reset drop
run_in env_drop GODEBUG=inittrace=1 -- $drop >"$pdir/inittrace.txt" 2>&1

log "gctrace with 100k entries"
reset n100000
run_in env_full GODEBUG=gctrace=1 -- $full >"$pdir/gctrace.txt" 2>&1

log "strace of one full start"
reset fresh
run_in env_full -- strace -f -c -o "$pdir/strace-c.txt" $full
reset fresh
run_in env_full -- strace -f -tt -T -o "$pdir/strace-T.txt" $full

log "strace of one drop-only start, and of gosu's"
gosu="$ns $root /usr/local/bin/gosu 1000:1000 /bin/true"
reset drop
run_in env_drop -- strace -f -c -o "$pdir/strace-drop-c.txt" $drop
run_in env_drop -- strace -f -tt -T -o "$pdir/strace-drop-T.txt" $drop
run_in env_drop -- strace -f -c -o "$pdir/strace-gosu-c.txt" $gosu

# Counters over many starts, not one: CPU time, page faults (the binary and
# the runtime's first heap), context switches (threads handing work over).
# Cycles and instructions are often not available in a VM, so not asked for.
# pstat LABEL ENVNAME STATE CMD... runs CMD 100 times under perf stat, each
# after `reset STATE` (- for none), and prints the mean of every counter.
pstat() {
	local label=$1 envname=$2 state=$3 i
	shift 3
	for ((i = 0; i < 100; i++)); do
		[ "$state" = - ] || reset "$state"
		{ run_in "$envname" -- perf stat -x , -e task-clock,page-faults,context-switches,cpu-migrations "$@" >/dev/null; } 2>&1
	done | awk -F, -v l="$label" '$1 ~ /^[0-9.]+$/ { sum[$3] += $1; n[$3]++ }
		END { for (e in sum) printf "| %s | %s | %.3f |\n", l, e, sum[e] / n[e] }' | sort
}
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
	log "perf stat: drop only, gosu, full start (100 runs each)"
	{
		echo "Mean of 100 runs (perf stat -x); task-clock in ms of CPU, whole process tree."
		echo
		echo "| start | counter | mean |"
		echo "|---|---|--:|"
		pstat "agent-entrypoint, drop only" env_drop drop $drop
		pstat "gosu, drop only" env_drop drop $gosu
		pstat "agent-entrypoint, full start" env_full fresh $full
		pstat "floor (/bin/true)" env_drop - $ns $root /bin/true
	} >"$pdir/perf-stat.txt"
fi

if [ -d "$statedir/remap" ] && [ -d "$root/home/dev" ]; then
	log "steps of a remap of /home/dev (scenario 5)"
	{
		for i in 1 2 3; do
			echo "## first start $i"
			bash "$here/remap.sh" "$root" warm first shim
			run_in base_env AGENT_ENTRYPOINT_DEBUG=1 -- $ns $root $shim --uid 2000 --gid 2000 --name dev -- /bin/true 2>&1
		done
		echo "## no-op start"
		run_in base_env AGENT_ENTRYPOINT_DEBUG=1 -- $ns $root $shim --uid 2000 --gid 2000 --name dev -- /bin/true 2>&1
	} >"$pdir/remap-steps.txt"
fi

if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
	log "perf with 100k entries"
	reset n100000
	rm -f "$pdir/perf.data" "$pdir/perf.data.old"
	run_in env_full -- perf record -q -F 10000 -g -o "$pdir/perf.data" $full 2>/dev/null
	# The binary lives in the rootfs: --symfs finds its symbols there.
	perf report -i "$pdir/perf.data" --symfs="$root" --children --sort sym --stdio -g none \
		>"$pdir/perf.report" 2>/dev/null
	grep '%' "$pdir/perf.report" | sed 60q >"$pdir/perf.txt"
	rm -f "$pdir/perf.report"
else
	log "perf is missing or not permitted here: skipping it"
fi

# Runtime settings a Go program can also fix for itself (GOMAXPROCS in
# main, //go:debug directives, debug.SetGCPercent). Every variant goes
# through /usr/bin/env inside the chroot, the baseline too.
log "runtime settings, side by side"
knob() { printf '%s %s /usr/bin/env %s %s' "$ns" "$root" "$1" "$2"; }
variants=("X=baseline" "GOMAXPROCS=1" "GOGC=off" "GODEBUG=containermaxprocs=0,updatemaxprocs=0")
for scen in drop full; do
	args=(-warmup 10 -runs 150 -json "$pdir/knobs-$scen.json")
	for v in "${variants[@]}"; do
		if [ "$scen" = drop ]; then
			args+=("$v" - "$(knob "$v" "$shim -- /bin/true")")
		else
			args+=("$v" "bash $here/reset.sh $root fresh" "$(knob "$v" "$shim --uid 1000 --gid 1000 -- /bin/true")")
		fi
	done
	if [ "$scen" = drop ]; then
		reset drop
		env -i "${env_drop[@]}" nice -n "${AGENT_ENTRYPOINT_BENCH_NICE:--10}" "$timer" "${args[@]}"
	else
		env -i "${env_full[@]}" nice -n "${AGENT_ENTRYPOINT_BENCH_NICE:--10}" "$timer" "${args[@]}"
	fi
done
python3 - "$pdir" >"$pdir/knobs.md" <<'EOF'
import json, statistics, sys
d = sys.argv[1]
print("| scenario | setting | median ± σ (ms) | Δ median vs baseline (ms) |")
print("|---|---|--:|--:|")
for scen in ("drop", "full"):
    res = json.load(open(f"{d}/knobs-{scen}.json"))["results"]
    base = None
    for r in res:
        t = [x * 1000 for x in r["times"]]
        med, sd = statistics.median(t), statistics.stdev(t)
        base = med if base is None else base
        print(f"| {scen} | {r['command']} | {med:.2f} ± {sd:.2f} | {med - base:+.2f} |")
EOF

cat "$pdir/steps.txt" "$pdir/knobs.md"
[ ! -e "$pdir/remap-steps.txt" ] || cat "$pdir/remap-steps.txt"
log "profile: $pdir"
