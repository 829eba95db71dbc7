package testhost

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Every test host gets a cgroup of its own in each hierarchy that systemd
// uses (the cgroup2 one, and name=systemd on a hybrid machine such as this
// one), named like its namespaces. nspawn --keep-unit puts the container
// into CALLER_CGROUP/payload: started from the machine's root cgroup, every
// test host on the machine, also those of other runs, would share /payload,
// and one host's nspawn would clean up or join another's.

// cgroupHierarchies returns the directories, one per hierarchy, of the
// calling process's own cgroup: where a test host's cgroup is created.
func cgroupHierarchies() ([]string, error) {
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	return hierarchyDirs(string(mountinfo), string(self)), nil
}

// hierarchyDirs matches the cgroup mounts of a mountinfo text with the
// process's paths in a /proc/PID/cgroup text: the cgroup2 mount with the
// "0::" path and a cgroup v1 mount with name=systemd with the
// "N:name=systemd:" path. Other v1 hierarchies (controllers) are left alone.
func hierarchyDirs(mountinfo, selfCgroup string) []string {
	paths := map[string]string{} // "" for cgroup2, "name=systemd" for v1
	for _, line := range strings.Split(strings.TrimSpace(selfCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && (parts[1] == "" || parts[1] == "name=systemd") {
			paths[parts[1]] = parts[2]
		}
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		f := strings.Fields(sc.Text())
		sep := slices.Index(f, "-")
		if sep < 5 || sep+3 >= len(f) || f[3] != "/" {
			continue
		}
		key := ""
		switch {
		case f[sep+1] == "cgroup2":
		case f[sep+1] == "cgroup" && slices.Contains(strings.Split(f[sep+3], ","), "name=systemd"):
			key = "name=systemd"
		default:
			continue
		}
		p, ok := paths[key]
		if !ok {
			continue
		}
		delete(paths, key) // first mount of a hierarchy only
		out = append(out, filepath.Join(unescapeMountinfo(f[4]), p))
	}
	return out
}

// createCgroups makes the cgroup name in every hierarchy and returns their
// directories.
func createCgroups(name string) ([]string, error) {
	parents, err := cgroupHierarchies()
	if err != nil {
		return nil, fmt.Errorf("testhost: find the cgroup hierarchies: %w", err)
	}
	var dirs []string
	for _, p := range parents {
		d := filepath.Join(p, name)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return dirs, fmt.Errorf("testhost: create cgroup %s: %w", d, err)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// enterCgroupsScript is the start of the test host's command line: a shell
// that moves itself into each cgroup given before "--" and then execs the
// rest, so that nspawn (same PID) and everything it starts live there.
const enterCgroupsScript = `while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"`

// removeCgroup removes a cgroup directory and the ones nspawn made below it
// (payload, supervisor), deepest first. Their processes must be gone; rmdir
// is retried for a few seconds while the last of them exit.
func removeCgroup(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs) // children after their parents in a walk
	var last error
	for _, d := range dirs {
		deadline := time.Now().Add(5 * time.Second)
		for {
			last = os.Remove(d)
			if last == nil || errors.Is(last, fs.ErrNotExist) {
				last = nil
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("remove cgroup %s: %w (processes left in it: %s)", d, last, strings.TrimSpace(readFileOr(filepath.Join(d, "cgroup.procs"))))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// staleCgroups lists the harness's cgroups (named by netnsPrefix) in the
// hierarchies whose owner process is gone.
func staleCgroups() []string {
	parents, _ := cgroupHierarchies()
	var out []string
	for _, p := range parents {
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), netnsPrefix) {
				continue
			}
			if pid, ok := netnsOwner(e.Name()); ok && procStartTime(pid) == 0 {
				out = append(out, filepath.Join(p, e.Name()))
			}
		}
	}
	return out
}

func readFileOr(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return string(b)
}
