#!/bin/bash
# The contestant that agent-entrypoint replaces: the steps of the seed's
# entry_point.sh (seeds/003), written out again for the benchmark.
#
# It runs the way the seed runs it: started directly as the target uid/gid
# (`docker run --user U:G`, here `chroot --userspec=U:G`), with useradd and
# groupadd installed setuid-root and NOPASSWD sudo for the user it creates.
# Every step forks what the seed forks: id twice, getent, groupadd, useradd,
# then three sudo calls, then exec.
#
# Inputs: USER (name to create) and SSH_AUTH_SOCK, as in the seed.

user_id=$(id -u)
group_id=$(id -g)

# Create the primary group unless one with that gid exists.
if [ -z "$(getent group "$group_id")" ]; then
	groupadd -g "$group_id" "$USER"
fi

# Create the user (and its home from /etc/skel) unless we are root.
if [ "$user_id" != 0 ]; then
	useradd -d "/home/$USER" -m -s /bin/bash -u "$user_id" -g "$group_id" -G sudo "$USER"
fi

# Let the new user connect to the root-owned agent socket.
if [ -e "$SSH_AUTH_SOCK" ]; then
	sudo chmod 666 "$SSH_AUTH_SOCK"
fi

# Close the door the setuid bits opened.
sudo chmod u-s /usr/sbin/useradd
sudo chmod u-s /usr/sbin/groupadd

exec "$@"
