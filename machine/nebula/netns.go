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

// TunPath is the tun clone device nebula opens to create its interface.
const TunPath = "/dev/net/tun"

// CheckTun returns an error when the device at path (TunPath) is not a
// character device that every user may read and write. The sidecar runs as a
// dynamic user with only CAP_NET_ADMIN, which does not override file
// permissions, so on a 0600 node nebula fails with a bare "permission
// denied" and systemd restarts it forever. udev makes the node 0666 on
// ordinary hosts; hosts without udev (a system in a container, some minimal
// images) keep the kernel's 0600, and this names the fix instead.
func CheckTun(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("the Nebula sidecar needs %s: %w; load the tun module (modprobe tun) or give the host the device", path, err)
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return fmt.Errorf("%s is not a character device (%s); the Nebula sidecar needs the kernel's tun device there", path, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm&0o006 != 0o006 {
		return fmt.Errorf("%s is mode %04o, so the Nebula sidecar's dynamic user cannot open it; udev makes it 0666 on most hosts (KERNEL==\"tun\", MODE=\"0666\"), here run chmod 0666 %s, and keep it across boots with a tmpfiles.d line \"z %s 0666 - - -\"", path, perm, path, path)
	}
	return nil
}
