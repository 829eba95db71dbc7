package testhost

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// netnsPrefix starts the name of every network namespace the harness creates,
// so that leftovers of killed runs can be found and removed.
const netnsPrefix = "nse2e-"

// runState is written to RUNDIR/state.json before anything is created, and
// updated as things are, so that a later run can remove what a killed run
// left behind. A run is stale when its owner process is gone.
type runState struct {
	OwnerPID   int    `json:"owner_pid"`
	OwnerStart uint64 `json:"owner_start"` // start time of OwnerPID, to survive PID reuse
	HostNetns  string `json:"host_netns"`
	ClientNets string `json:"client_netns"`
	Root       string `json:"root"`
	NspawnPID  int    `json:"nspawn_pid,omitempty"`
	NspawnSt   uint64 `json:"nspawn_start,omitempty"`
	Leader     int    `json:"leader_pid,omitempty"` // the test host's PID 1, seen from here
	LeaderSt   uint64 `json:"leader_start,omitempty"`
	// Helpers are processes a scenario started beside the test host (a
	// DHCPv6 server in the client namespace); teardown kills them.
	Helpers []helperProc `json:"helpers,omitempty"`
	// Cgroups are the test host's own cgroups (one per hierarchy), removed
	// once its processes are gone.
	Cgroups []string `json:"cgroups,omitempty"`
}

// helperProc is a process identified by PID and start time.
type helperProc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// save writes the state atomically, so a reader never sees half of it.
func (s *runState) save(dir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "state.json.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "state.json"))
}

func loadState(dir string) (*runState, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var s runState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s/state.json: %w", dir, err)
	}
	return &s, nil
}

// procStartTime returns the start time (field 22 of /proc/PID/stat, in clock
// ticks since boot) of pid, or 0 when the process does not exist.
func procStartTime(pid int) uint64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	st, _ := parseStat(string(data))
	return st.start
}

type procStat struct {
	ppid  int
	start uint64
	comm  string
}

// parseStat parses the fields of /proc/PID/stat that the harness uses. comm is
// in parentheses and may contain spaces and parentheses, hence LastIndex.
func parseStat(s string) (procStat, error) {
	open := strings.IndexByte(s, '(')
	closing := strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return procStat{}, fmt.Errorf("malformed stat line %q", s)
	}
	fields := strings.Fields(s[closing+1:])
	// fields[0] is the state (field 3); ppid is field 4, starttime field 22.
	if len(fields) < 20 {
		return procStat{}, fmt.Errorf("short stat line %q", s)
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return procStat{}, fmt.Errorf("stat ppid %q: %w", fields[1], err)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("stat starttime %q: %w", fields[19], err)
	}
	return procStat{ppid: ppid, start: start, comm: s[open+1 : closing]}, nil
}

// alive reports whether the process pid that started at start still runs.
func alive(pid int, start uint64) bool {
	return pid > 0 && start != 0 && procStartTime(pid) == start
}

// killAndWait sends sig to pid (only if it is still the process that started
// at start) and waits up to timeout for it to go away. It returns whether the
// process is gone.
func killAndWait(pid int, start uint64, sig syscall.Signal, timeout time.Duration) bool {
	if !alive(pid, start) {
		return true
	}
	_ = syscall.Kill(pid, sig)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !alive(pid, start) {
			return true
		}
		// A child of ours stays a zombie until reaped; that is "gone" too.
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && zombie(string(st)) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return !alive(pid, start)
}

func zombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && strings.HasPrefix(strings.TrimSpace(stat[i+1:]), "Z")
}

// mountsUnder returns the mount points at or below dir, deepest first, read
// from a mountinfo text (see proc(5)). Paths are unescaped (\040 etc.).
func mountsUnder(mountinfo, dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	// Deepest first, so that unmounting in order never hits a busy parent.
	slices.SortStableFunc(out, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/")
	})
	return out
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeTree removes dir after lazily unmounting anything still mounted below
// it, so that RemoveAll never deletes through a mount into another tree.
func removeTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, mp := range mountsUnder(string(data), dir) {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s before removing %s: %w", mp, dir, err)
			}
		}
		if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil && len(mountsUnder(string(data), dir)) > 0 {
			return fmt.Errorf("%s still has mounts below it; not removing it (unmount them by hand)", dir)
		}
	}
	return os.RemoveAll(dir)
}

// deleteNetns removes a named network namespace if it exists. The veth pairs
// with an end inside it go with it.
func deleteNetns(name string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip netns delete %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// teardown stops the test host of a run (gently if possible, by PID) and
// removes its namespaces and its directory. It is used both by Close and to
// clean up after killed runs, so it relies only on the saved state.
func (s *runState) teardown(dir string, gentle bool, logf func(string, ...any)) error {
	var errs []error
	stopped := !alive(s.NspawnPID, s.NspawnSt)
	if !stopped && gentle && alive(s.Leader, s.LeaderSt) {
		// SIGRTMIN+4 asks systemd for a clean poweroff, like
		// "systemctl poweroff" but without needing D-Bus inside.
		_ = syscall.Kill(s.Leader, syscall.Signal(34+4))
		if stopped = killAndWait(s.NspawnPID, s.NspawnSt, 0, 30*time.Second); !stopped {
			logf("test host did not power off within 30s; terminating systemd-nspawn (pid %d)", s.NspawnPID)
		}
	}
	// nspawn turns SIGTERM into a poweroff request to the container.
	if !stopped && !killAndWait(s.NspawnPID, s.NspawnSt, syscall.SIGTERM, 15*time.Second) {
		logf("systemd-nspawn (pid %d) ignored SIGTERM for 15s; killing it", s.NspawnPID)
		killAndWait(s.NspawnPID, s.NspawnSt, syscall.SIGKILL, 5*time.Second)
	}
	// Killing the container's PID 1 takes its whole PID namespace with it,
	// in case nspawn died and left it running.
	if !killAndWait(s.Leader, s.LeaderSt, syscall.SIGKILL, 10*time.Second) {
		errs = append(errs, fmt.Errorf("test host PID 1 (pid %d) survived SIGKILL", s.Leader))
	}
	for _, p := range s.Helpers {
		if !killAndWait(p.PID, p.Start, syscall.SIGKILL, 5*time.Second) {
			errs = append(errs, fmt.Errorf("helper process %d survived SIGKILL", p.PID))
		}
	}
	for _, ns := range []string{s.ClientNets, s.HostNetns} {
		if ns == "" {
			continue
		}
		if err := deleteNetns(ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, cg := range s.Cgroups {
		if err := removeCgroup(cg); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeTree(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CleanupStale removes what earlier runs left behind when they were killed
// before their cleanup ran: their test host processes, network namespaces and
// root copies under workDir. Runs whose owner process still lives (concurrent
// runs) are left alone. It is safe to call at any time.
func CleanupStale(workDir string, logf func(string, ...any)) error {
	var errs []error
	owned := map[string]bool{} // netns names of live runs
	entries, _ := os.ReadDir(workDir)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "run-") {
			continue
		}
		dir := filepath.Join(workDir, e.Name())
		s, err := loadState(dir)
		if err != nil {
			// A run dies between mkdir and the first save only if killed in
			// that instant; without state there is nothing to stop.
			if fi, serr := os.Stat(dir); serr == nil && time.Since(fi.ModTime()) < time.Minute {
				continue // possibly a run starting right now
			}
			logf("removing stale run directory without state: %s", dir)
			if err := removeTree(dir); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if alive(s.OwnerPID, s.OwnerStart) {
			owned[s.HostNetns], owned[s.ClientNets] = true, true
			continue
		}
		logf("cleaning up stale run %s (owner pid %d is gone)", dir, s.OwnerPID)
		if err := s.teardown(dir, false, logf); err != nil {
			errs = append(errs, fmt.Errorf("stale run %s: %w", dir, err))
		}
	}
	// Cgroups whose run directory is gone.
	for _, cg := range staleCgroups() {
		logf("removing stale cgroup %s", cg)
		if err := removeCgroup(cg); err != nil {
			errs = append(errs, err)
		}
	}
	// Namespaces whose run directory is gone (e.g. removed by hand).
	nss, _ := os.ReadDir("/run/netns")
	for _, n := range nss {
		name := n.Name()
		if !strings.HasPrefix(name, netnsPrefix) || owned[name] {
			continue
		}
		pid, ok := netnsOwner(name)
		if ok && procStartTime(pid) != 0 {
			continue // its owner still runs; it is not stale
		}
		logf("removing stale network namespace %s", name)
		if err := deleteNetns(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// netnsNames returns the names of the host and client namespaces of the
// seq-th host of the process pid.
func netnsNames(pid int, seq int64) (host, client string) {
	return fmt.Sprintf("%s%d-%d-host", netnsPrefix, pid, seq), fmt.Sprintf("%s%d-%d-client", netnsPrefix, pid, seq)
}

// netnsOwner extracts the owner PID from a name made by netnsNames.
func netnsOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, netnsPrefix)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(num)
	return pid, err == nil && pid > 0
}
