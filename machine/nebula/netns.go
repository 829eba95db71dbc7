package nebula

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// nsfsMagic is the file system type of /proc/PID/ns/* (linux/magic.h).
const nsfsMagic = 0x6e736673

// BindNetns makes target a bind mount of the network namespace of process
// pid, as `ip netns attach` does, so that systemd can open it by path
// (NetworkNamespacePath=) and it stays valid as long as the mount exists. A
// stale mount at target (a container that was restarted) is replaced. It
// refuses a process that shares the calling process's network namespace: a
// sidecar there would reconfigure the host's network.
func BindNetns(pid int, target string) error {
	src := "/proc/" + strconv.Itoa(pid) + "/ns/net"
	var srcSt, selfSt unix.Stat_t
	if err := unix.Stat(src, &srcSt); err != nil {
		return fmt.Errorf("opening the network namespace of process %d (%s): %w; is the container still running?", pid, src, err)
	}
	if err := unix.Stat("/proc/self/ns/net", &selfSt); err != nil {
		return fmt.Errorf("reading this process's network namespace: %w", err)
	}
	if srcSt.Dev == selfSt.Dev && srcSt.Ino == selfSt.Ino {
		return fmt.Errorf("process %d is in the host's network namespace; a nebula sidecar needs the container to have its own network (not mode host)", pid)
	}
	if err := UnbindNetns(target); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(target), err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("creating the mount point %s: %w", target, err)
	}
	f.Close()
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(target)
		return fmt.Errorf("bind-mounting %s at %s: %w", src, target, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(target, &st); err != nil || st.Ino != srcSt.Ino || st.Dev != srcSt.Dev {
		_ = UnbindNetns(target)
		return fmt.Errorf("the bind mount at %s does not show the network namespace of process %d (the process may have exited); start the container again", target, pid)
	}
	return nil
}

// UnbindNetns removes a mount made by BindNetns, and the mount point. A
// missing target is no error, so cleanup may run twice.
func UnbindNetns(target string) error {
	for i := 0; i < 8; i++ {
		var fsst unix.Statfs_t
		err := unix.Statfs(target, &fsst)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inspecting %s: %w", target, err)
		}
		if int64(fsst.Type) != nsfsMagic {
			break
		}
		// Lazy: a process that still has it open keeps its reference,
		// the path is free at once.
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting the network namespace at %s: %w", target, err)
		}
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", target, err)
	}
	return nil
}

// NetnsInode returns the inode of the network namespace at path (a bind
// mount or /proc/PID/ns/net), to tell namespaces apart.
func NetnsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}
