/*
 * nsrun: start one command the way a container runtime's last step does,
 * with nothing else in the timed path: fresh mount and pid namespaces, a
 * private mount tree, /proc mounted for the new pid namespace, chroot into
 * ROOT, optionally the ids of `docker run --user UID:GID` (no supplementary
 * groups), then execv. The command is PID 1 of its namespace; nsrun waits
 * for it and exits with its status (128+signal when killed).
 *
 * It replaces `unshare --mount --pid --fork --mount-proc chroot` in the
 * benchmark: the same namespaces and chroot, without two dynamically linked
 * programs started on the way, so the floor is smaller and ratios between
 * contestants are not diluted by the harness.
 *
 * Usage: nsrun [-u UID:GID] ROOT /ABSOLUTE/CMD [ARG...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "nsrun: %s: %s\n", what, strerror(errno));
	_exit(125);
}

static void usage(void) {
	fputs("usage: nsrun [-u UID:GID] ROOT /ABSOLUTE/CMD [ARG...]\n", stderr);
	_exit(125);
}

int main(int argc, char **argv) {
	int i = 1, as_user = 0;
	unsigned long uid = 0, gid = 0;
	if (i + 1 < argc && strcmp(argv[i], "-u") == 0) {
		char *end;
		uid = strtoul(argv[i + 1], &end, 10);
		if (end == argv[i + 1] || *end != ':') usage();
		char *g = end + 1;
		gid = strtoul(g, &end, 10);
		if (end == g || *end != '\0' || uid > INT_MAX || gid > INT_MAX) usage();
		as_user = 1;
		i += 2;
	}
	if (argc - i < 2 || argv[i + 1][0] != '/') usage();
	const char *root = argv[i];
	char **cmd = argv + i + 1;

	if (unshare(CLONE_NEWNS | CLONE_NEWPID) < 0) die("unshare");
	/* Nothing mounted here may propagate back to the host. */
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("make / private");
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		char proc[PATH_MAX];
		if (snprintf(proc, sizeof proc, "%s/proc", root) >= (int)sizeof proc) {
			errno = ENAMETOOLONG;
			die(root);
		}
		if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) die("mount /proc");
		if (chroot(root) < 0) die("chroot");
		if (chdir("/") < 0) die("chdir /");
		if (as_user) {
			if (setgroups(0, NULL) < 0) die("setgroups");
			if (setgid((gid_t)gid) < 0) die("setgid");
			if (setuid((uid_t)uid) < 0) die("setuid");
		}
		execv(cmd[0], cmd);
		fprintf(stderr, "nsrun: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
