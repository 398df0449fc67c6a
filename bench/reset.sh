#!/usr/bin/env bash
# Usage: reset.sh ROOT STATE
#
# Puts the benchmark rootfs ROOT back into the saved account state STATE (a
# directory under ROOT/var/lib/agent-entrypoint-bench): no user 1000, no
# home, a root-owned 0755 agent socket and the setuid bits the seed's script
# removes. bench/run.sh resets the rootfs under the container roots of
# scenarios 1 to 3 with it, and remap.sh and profile.sh before their runs.
set -euo pipefail

root=$1
state=$root/var/lib/agent-entrypoint-bench/$2
[ -d "$state" ] || { echo "reset.sh: no saved state $state" >&2; exit 1; }

for f in passwd group shadow gshadow subuid subgid; do
	# cp -p keeps mode and owner (shadow and gshadow are 0640 root:shadow).
	cp -p "$state/$f" "$root/etc/$f"
	# useradd leaves a backup copy; remove it so every run starts alike.
	rm -f "$root/etc/$f-"
done

rm -rf "$root/home/bench" "$root/var/mail/bench" "$root/run/sudo"
if [ -e "$state/home" ]; then
	# The drop-only state has the user, so it also has its home.
	install -d -m 0755 -o 1000 -g 1000 "$root/home/bench"
fi

# The seed's script removes these; its Dockerfile sets them.
chmod u+s "$root/usr/sbin/useradd" "$root/usr/sbin/groupadd"

# The agent socket as Docker Desktop mounts it: root-owned, mode 0755.
sock=$root/run/bench/ssh-auth.sock
if [ -S "$sock" ]; then
	chown 0:0 "$sock"
	chmod 0755 "$sock"
fi

# The setuid install of the shim may drop its own setuid bit after use.
suid=$root/usr/local/bin/agent-entrypoint-setuid
if [ -e "$suid" ]; then
	chown 0:0 "$suid"
	chmod 4755 "$suid"
fi
