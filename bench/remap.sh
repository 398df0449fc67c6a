#!/usr/bin/env bash
# Usage: remap.sh ROOT MODE first KEY
#        remap.sh ROOT MODE again KEY CMD...
#
# Prepare hook (bench/timer) of scenario 5 of bench/run.sh (remap): the image
# user dev (uid and gid 1000) owns a home of 100k files, and a contestant
# moves it to 2000:2000.
#
# first  puts back the state before any move, for a contestant's first start:
#        dev at 1000 in the account files, every file of /home/dev owned by
#        1000:1000, no fixuid marker (/run/fixuid.ran).
# again  leaves the state as the contestant KEY's own previous start left it,
#        for its second start. When the state is not that one (another
#        contestant ran last), it puts back the first state and runs CMD, the
#        contestant's start, once. The first time after a contestant's first
#        start it also checks what the move did (see verify), so every timed
#        row is checked, not only the check run of run.sh.
#
# MODE says where:
#   warm     in ROOT itself (ext4 here), the page cache left warm;
#   cold     the same, then the page cache dropped (drop_caches) before the run;
#   overlay  in ROOT.remap/merged, an overlay mount with ROOT as its lower
#            layer and a fresh upper layer in ROOT.remap for every first
#            start: the first chown of a file copies it up, as in a
#            container's root. ROOT itself is never changed in this mode.
#
# Every mode ends with sync, so that no run pays for the writeback of the
# restore before it. ROOT.remap/state records which state is in place, and
# ROOT.remap/verify.tsv collects the checks (mode, contestant, ok or FAILED,
# what was found).
set -euo pipefail

root=$1 mode=$2 what=$3 key=$4
shift 4
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scratch=$root.remap
statefile=$scratch/state

die() {
	echo "remap.sh: $*" >&2
	exit 1
}

case $mode in
warm | cold) top=$root ;;
overlay) top=$scratch/merged ;;
*) die "unknown mode $mode" ;;
esac

restore() {
	if [ "$mode" = overlay ]; then
		if mountpoint -q "$top"; then umount "$top"; fi
		rm -rf "$scratch/upper" "$scratch/work"
		mkdir -p "$scratch/upper" "$scratch/work" "$top"
		mount -t overlay overlay -o "lowerdir=$root,upperdir=$scratch/upper,workdir=$scratch/work" "$top"
		return
	fi
	bash "$here/reset.sh" "$root" remap
	# -R does not follow symlinks and changes a link itself (coreutils -P).
	chown -R 1000:1000 "$root/home/dev"
	rm -f "$root/run/fixuid.ran"
}

# verify checks the state after KEY's first start: every entry of the home
# at 2000:2000 and, for the two that renumber the user, dev's passwd and
# group lines at 2000. chown -R (with or without --from) leaves the account
# files alone.
verify() {
	local n bad pw gr why=""
	n=$(find "$top/home/dev" | wc -l)
	bad=$(find "$top/home/dev" \( ! -uid 2000 -o ! -gid 2000 \) | wc -l)
	pw=$(awk -F: '$1 == "dev" { print $3 ":" $4 }' "$top/etc/passwd")
	gr=$(awk -F: '$1 == "dev" { print $3 }' "$top/etc/group")
	if ((bad > 0)); then
		why="$bad of $n entries not at 2000:2000"
	elif [[ $key != chown* ]] && [ "$key" != floor ] && { [ "$pw" != 2000:2000 ] || [ "$gr" != 2000 ]; }; then
		why="dev is $pw in passwd and $gr in group, not 2000"
	fi
	if [ -n "$why" ]; then
		printf '%s\t%s\tFAILED\t%s\n' "$mode" "$key" "$why" >>"$scratch/verify.tsv"
	else
		printf '%s\t%s\tok\t%s entries at 2000:2000, dev %s\n' "$mode" "$key" "$n" "$pw" >>"$scratch/verify.tsv"
	fi
}

mkdir -p "$scratch"
case $what in
first)
	restore
	echo "$mode $key first" >"$statefile"
	;;
again)
	(($#)) || die "again needs the contestant's command"
	cur=$(cat "$statefile" 2>/dev/null || true)
	if [ "$cur" != "$mode $key first" ] && [ "$cur" != "$mode $key again" ]; then
		restore
		echo "$mode $key first" >"$statefile"
		"$@" >/dev/null 2>&1 || die "$key failed: $*"
		cur="$mode $key first"
	fi
	if [ "$cur" = "$mode $key first" ]; then
		verify
		echo "$mode $key again" >"$statefile"
	fi
	;;
*) die "unknown step $what" ;;
esac

sync
if [ "$mode" = cold ]; then echo 3 >/proc/sys/vm/drop_caches; fi
