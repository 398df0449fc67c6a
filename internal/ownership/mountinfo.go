package ownership

import (
	"bytes"
	"os"

	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
	"github.com/moby/sys/mountinfo"
)

// mountinfoPath lists the mounts of this process's mount namespace, with
// mount points relative to its root directory, as Walk's paths are.
const mountinfoPath = "/proc/self/mountinfo"

// mountinfoMax caps how much of mountinfo is read: a node with tens of
// thousands of mounts stays well below it.
const mountinfoMax = 16 << 20

// readMountPoints returns every mount point of this mount namespace.
func readMountPoints() ([]string, error) {
	data, err := safefs.ReadFile(mountinfoPath, mountinfoMax)
	if err != nil {
		return nil, err
	}
	points, err := parseMountinfo(data)
	if err != nil {
		return nil, &os.PathError{Op: "parse", Path: mountinfoPath, Err: err}
	}
	return points, nil
}

// parseMountinfo returns the mount point of each line of a mountinfo
// table, as moby/sys/mountinfo reads it. A line without all its fields or
// its "-" separator fails the whole table rather than being skipped: a
// mount that went unnoticed would be walked into.
func parseMountinfo(data []byte) ([]string, error) {
	infos, err := mountinfo.GetMountsFromReader(bytes.NewReader(data), nil)
	if err != nil {
		return nil, err
	}
	points := make([]string, len(infos))
	for i, m := range infos {
		points[i] = m.Mountpoint
	}
	return points, nil
}
