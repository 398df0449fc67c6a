// Package ownership hands the files of one uid and gid over to another: the
// walk that follows an image user renumbered at container start, so that the
// files it owned under its home (and under the AGENT_ENTRYPOINT_CHOWN paths)
// stay its own.
//
// Walk visits a tree through directory descriptors only. Every directory is
// opened relative to the root's descriptor without following a symlink in any
// component, and every entry is looked at and changed relative to its
// directory's descriptor with AT_SYMLINK_NOFOLLOW, so a path component
// swapped for a symlink while the walk runs cannot lead a chown out of the
// tree. A fixed pool of workers shares a stack of directories still to visit;
// the stack holds paths below the root, not descriptors, so a wide or deep
// tree costs memory, never file descriptors. An entry that is already right
// is only looked at, so a second start is close to free. A regular file
// keeps its set-user-ID and set-group-ID bits (chown clears them) only
// where they would not run it as uid 0 or gid 0.
//
// It deliberately does not: follow symlinks (a link owned by the old uid is
// changed itself, its target never), walk through a root that is a symlink,
// cross into another mount (a mount point, directory or file, is neither
// changed nor entered), change entries owned by anyone but the old ids, move
// id 0, rewrite ACL entries that name the old ids, or keep file capabilities
// (the kernel drops security.capability on chown, as under chown -R).
package ownership
