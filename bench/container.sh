#!/usr/bin/env bash
# Usage: container.sh ROOT STATE
#        container.sh ROOT --remove
#
# Prepare hook of scenarios 1 to 3 of bench/run.sh: gives every timed start
# a fresh container root, as `docker run` does. ROOT.ctr/merged becomes an
# overlay mount whose lower layers are the account state STATE
# (ROOT.layers/STATE: the account files, and a home for the drop-only
# state) over the rootfs ROOT, with an empty upper layer. The agent socket
# is bind-mounted in, root-owned with mode 0755, as `-v
# $SSH_AUTH_SOCK:/run/bench/ssh-auth.sock` mounts it.
#
# Nothing a start writes reaches ROOT: it lands in the upper layer, which the
# next call moves to ROOT.ctr/trash. Deleting it there and then would leave
# journal work to the timed start that follows; --remove unmounts and
# deletes everything when the benchmark ends.
set -euo pipefail

root=$1 state=$2
ctr=$root.ctr top=$root.ctr/merged
sock=/run/bench/ssh-auth.sock

unmount() {
	if mountpoint -q "$top$sock"; then umount "$top$sock"; fi
	if mountpoint -q "$top"; then umount "$top"; fi
}

unmount
if [ "$state" = --remove ]; then
	rm -rf "$ctr"
	exit 0
fi
layer=$root.layers/$state
[ -d "$layer/etc" ] || { echo "container.sh: no account state $layer" >&2; exit 1; }

if [ -d "$ctr/upper" ]; then
	mkdir -p "$ctr/trash"
	old=$(mktemp -d "$ctr/trash/XXXXXX")
	mv "$ctr/upper" "$ctr/work" "$old/"
fi
mkdir -p "$ctr/upper" "$ctr/work" "$top"
mount -t overlay overlay -o "lowerdir=$layer:$root,upperdir=$ctr/upper,workdir=$ctr/work" "$top"

# chmod and chown through a bind mount change the host's inode: reset it.
chown 0:0 "$root$sock"
chmod 0755 "$root$sock"
mount --bind "$root$sock" "$top$sock"
