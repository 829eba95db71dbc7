// Package testhost boots a real systemd host in a container ("test host") for
// nspawnctl's end-to-end tests, on a machine whose own PID 1 is not systemd.
//
// The test host is a Debian root built with mmdebstrap (cached), copied per
// run, and booted with systemd-nspawn inside a network namespace of its own,
// as reference/testbed.md section 5 describes. It runs systemd, D-Bus,
// machined and networkd, so nspawnctl can drive nested containers there
// exactly as on a user's machine. A second namespace, the client, is joined
// to it by a veth pair and plays a machine on the LAN.
//
// Nothing touches the machine's own network namespace: the veth pair is
// created inside the client namespace with its peer moved straight into the
// test host's. Everything a run creates is recorded in a state file first, so
// that Close, a signal handler, or the next run (CleanupStale) can remove it.
package testhost

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Addresses of the link between the client namespace and the test host.
const (
	ClientIPv4 = "203.0.113.1"
	HostIPv4   = "203.0.113.2"
	ClientIPv6 = "2001:db8:113::1"
	HostIPv6   = "2001:db8:113::2"
	// HostUplink is the test host's end of the veth pair to the client.
	HostUplink = "uplink0"
	// ClientLink is the client's end of that pair.
	ClientLink = "lan0"
)

// Defaults for Config fields left empty.
const (
	DefaultCacheDir = "/var/cache/nspawnctl-e2e"
	DefaultWorkDir  = "/var/tmp/nspawnctl-e2e"
)

// Config says where the harness keeps its files and how it reports progress.
// The zero value works: the fields default from the environment
// (NSPAWNCTL_E2E_CACHE, NSPAWNCTL_E2E_WORKDIR, NSPAWNCTL_E2E_MIRROR,
// NSPAWNCTL_E2E_SUITE) and then from the constants above.
type Config struct {
	CacheDir string               // cached images
	WorkDir  string               // per-run directories (root copy, logs, state)
	Mirror   string               // Debian mirror for mmdebstrap
	Suite    string               // Debian suite of the test host (see Suites)
	Uplink   *Uplink              // the host's link to the outside; nil: DefaultUplink
	Logf     func(string, ...any) // progress and diagnostics; nil discards
}

// fill applies the defaults documented on Config.
func (c *Config) fill() {
	if c.CacheDir == "" {
		c.CacheDir = envOr("NSPAWNCTL_E2E_CACHE", DefaultCacheDir)
	}
	if c.WorkDir == "" {
		c.WorkDir = envOr("NSPAWNCTL_E2E_WORKDIR", DefaultWorkDir)
	}
	if c.Mirror == "" {
		c.Mirror = DetectMirror("/etc/apt")
	}
	if c.Suite == "" {
		c.Suite = envOr(EnvSuite, DefaultSuite)
	}
	if c.Uplink == nil {
		u := DefaultUplink()
		c.Uplink = &u
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Timings records how long each phase of New took.
type Timings struct {
	Suite          Suite         // the test host's suite
	HostImage      time.Duration // find or build the test host image
	HostImageBuilt bool          // whether HostImage included an mmdebstrap build
	GuestImage     time.Duration // find or build the guest image
	GuestBuilt     bool          // whether GuestImage included an mmdebstrap build
	Images         time.Duration // both images (they are built concurrently)
	Copy           time.Duration // per-run root: overlayfs mount, or copy
	Boot           time.Duration // nspawn start until is-system-running is running/degraded
}

// String formats the timings on one line for test logs.
func (t Timings) String() string {
	word := func(b bool) string {
		if b {
			return "built"
		}
		return "cached"
	}
	return fmt.Sprintf("%s: host image %s (%s), guest image %s (%s), images total %s, per-run root %s, boot %s",
		t.Suite, t.HostImage.Round(time.Millisecond), word(t.HostImageBuilt),
		t.GuestImage.Round(time.Millisecond), word(t.GuestBuilt),
		t.Images.Round(time.Millisecond), t.Copy.Round(time.Millisecond), t.Boot.Round(time.Millisecond))
}

// hostSeq numbers the hosts of this process.
var hostSeq atomic.Int64

// Host is a booted test host and its client namespace.
type Host struct {
	cfg      Config
	suite    Suite
	dir      string // the run directory
	state    runState
	guestTar string
	console  *os.File
	nspawn   *exec.Cmd
	exited   chan struct{} // closed when nspawn has exited and was reaped
	closeMu  sync.Mutex
	closed   bool
	closeErr error

	// Timings of the phases of New.
	Timings Timings
}

// New builds (or takes from the cache) the images, boots a test host and
// connects a client namespace to it. The caller must call Close, on every
// path; the Start helper arranges that for tests.
func New(ctx context.Context, cfg Config) (h *Host, err error) {
	cfg.fill()
	if os.Geteuid() != 0 {
		return nil, errors.New("testhost: needs root (network namespaces, systemd-nspawn)")
	}
	if err := CheckTools(); err != nil {
		return nil, err
	}
	suite, err := LookupSuite(cfg.Suite)
	if err != nil {
		return nil, err
	}
	if err := CleanupStale(cfg.WorkDir, cfg.Logf); err != nil {
		// A leftover we cannot remove does not stop this run: names are per
		// run. Say so, since it will need attention.
		cfg.Logf("warning: cleaning up earlier runs: %v", err)
	}

	h = &Host{cfg: cfg, suite: suite, exited: make(chan struct{})}
	h.Timings.Suite = suite
	var hostImg string
	t0 := time.Now()
	hostImg, h.guestTar, err = h.ensureImages(ctx)
	h.Timings.Images = time.Since(t0)
	if err != nil {
		return nil, err
	}

	pid := os.Getpid()
	seq := hostSeq.Add(1) // several hosts of one process may be open at once
	h.dir = filepath.Join(cfg.WorkDir, fmt.Sprintf("run-%d-%d", pid, seq))
	hostNS, clientNS := netnsNames(pid, seq)
	h.state = runState{
		OwnerPID:   pid,
		OwnerStart: procStartTime(pid),
		HostNetns:  hostNS,
		ClientNets: clientNS,
		Root:       filepath.Join(h.dir, "root"),
	}
	// Directories of this PID are from a process that had this PID before
	// and is gone, and CleanupStale removed them; one still here means
	// something is badly wrong, so refuse rather than guess.
	if _, err := os.Stat(h.dir); err == nil {
		return nil, fmt.Errorf("testhost: run directory %s already exists; remove it (go run ./e2e/cleanup) and retry", h.dir)
	}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return nil, fmt.Errorf("testhost: create run directory: %w", err)
	}
	if err := h.state.save(h.dir); err != nil {
		_ = os.RemoveAll(h.dir)
		return nil, fmt.Errorf("testhost: save run state in %s: %w", h.dir, err)
	}
	register(h)
	defer func() {
		if err != nil {
			if cerr := h.Close(); cerr != nil {
				cfg.Logf("cleanup after failed start: %v", cerr)
			}
			h = nil
		}
	}()

	t0 = time.Now()
	if err := prepareRoot(ctx, hostImg, h.dir, h.state.Root, cfg.Logf); err != nil {
		return h, err
	}
	h.Timings.Copy = time.Since(t0)
	if err := h.customizeRoot(); err != nil {
		return h, err
	}
	if err := h.setupNetwork(ctx); err != nil {
		return h, err
	}
	t0 = time.Now()
	if err := h.boot(ctx); err != nil {
		return h, err
	}
	h.Timings.Boot = time.Since(t0)
	cfg.Logf("test host up: %s", h.Timings)
	return h, nil
}

// ensureImages finds or builds both images, concurrently (a cold build is
// mostly waiting for downloads and dpkg).
func (h *Host) ensureImages(ctx context.Context) (hostImg, guestTar string, err error) {
	var wg sync.WaitGroup
	var herr, gerr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		t0 := time.Now()
		hostImg, h.Timings.HostImageBuilt, herr = EnsureImage(ctx, h.cfg.CacheDir, h.cfg.Mirror, TestHostImage(h.suite), h.cfg.Logf)
		h.Timings.HostImage = time.Since(t0)
	}()
	go func() {
		defer wg.Done()
		t0 := time.Now()
		guestTar, h.Timings.GuestBuilt, gerr = EnsureImage(ctx, h.cfg.CacheDir, h.cfg.Mirror, GuestImage(), h.cfg.Logf)
		h.Timings.GuestImage = time.Since(t0)
	}()
	wg.Wait()
	return hostImg, guestTar, errors.Join(herr, gerr)
}

// prepareRoot gives this run its own writable root on top of the cached
// image, so that nothing a test does reaches the cache: an overlayfs mount
// (instant, and the upper layer is all there is to remove) or, where the
// kernel refuses one, a full copy.
func prepareRoot(ctx context.Context, image, runDir, root string, logf func(string, ...any)) error {
	upper, work := filepath.Join(runDir, "upper"), filepath.Join(runDir, "work")
	for _, d := range []string{upper, work, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("testhost: prepare root: %w", err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", image, upper, work)
	err := syscall.Mount("overlay", root, "overlay", 0, opts)
	if err == nil {
		return nil
	}
	logf("overlayfs mount of %s failed (%v); copying the image instead", root, err)
	if err := os.Remove(root); err != nil {
		return fmt.Errorf("testhost: prepare root: %w", err)
	}
	out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", image, root).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testhost: copy image %s to %s: %v: %s", image, root, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// uplinkNetwork configures the test host's end of its uplink. It is a
// networkd file, not "ip addr" from outside, so that networkd inside owns the
// link and does not undo the configuration.
func uplinkNetwork(u Uplink) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by nspawnctl's e2e harness: the test host's link to %s.
[Match]
Name=%s

[Link]
RequiredForOnline=yes

[Network]
`, u.describe(), HostUplink)
	for _, a := range u.Host {
		fmt.Fprintf(&b, "Address=%s\n", a)
	}
	if u.Gateway {
		for _, p := range u.Peer {
			fmt.Fprintf(&b, "Gateway=%s\n", p.Addr())
		}
	}
	b.WriteString("IPv6AcceptRA=no\nLinkLocalAddressing=ipv6\n")
	return b.String()
}

// customizeRoot writes the per-run files into the root copy before boot.
func (h *Host) customizeRoot() error {
	files := map[string]string{
		"etc/systemd/network/10-e2e-uplink.network": uplinkNetwork(*h.cfg.Uplink),
		"etc/hostname": "testhost\n",
	}
	for rel, content := range files {
		p := filepath.Join(h.state.Root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("testhost: prepare %s: %w", p, err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("testhost: write %s: %w", p, err)
		}
	}
	return os.MkdirAll(filepath.Join(h.state.Root, "var/lib/machines"), 0o700)
}

// setupNetwork creates both namespaces and the veth pair between them. The
// pair is created inside the client namespace and its peer is moved straight
// into the host namespace: it never exists in the machine's own namespace.
func (h *Host) setupNetwork(ctx context.Context) error {
	hostNS, clientNS := h.state.HostNetns, h.state.ClientNets
	u := h.cfg.Uplink
	peerNS := cmp.Or(u.Netns, clientNS)
	steps := [][]string{
		{"ip", "netns", "add", hostNS},
		{"ip", "netns", "add", clientNS},
		{"ip", "-n", clientNS, "link", "set", "lo", "up"},
		{"ip", "-n", peerNS, "link", "add", u.PeerLink, "type", "veth", "peer", "name", HostUplink, "netns", hostNS},
	}
	for _, p := range u.Peer {
		step := []string{"ip", "-n", peerNS, "addr", "add", p.String(), "dev", u.PeerLink}
		if p.Addr().Is6() {
			step = append(step, "nodad")
		}
		steps = append(steps, step)
	}
	steps = append(steps, []string{"ip", "-n", peerNS, "link", "set", u.PeerLink, "up"})
	for _, s := range steps {
		out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("testhost: network setup %q: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// boot starts systemd-nspawn and waits until systemd inside reports the
// system as running (or degraded, which is reported with the failed units).
func (h *Host) boot(ctx context.Context) error {
	var err error
	h.console, err = os.Create(filepath.Join(h.dir, "console.log"))
	if err != nil {
		return fmt.Errorf("testhost: create console log: %w", err)
	}
	args := []string{
		"-b", "-D", h.state.Root,
		"--register=no", "--keep-unit", // no systemd or machined out here
		"-M", "testhost",
		"--network-namespace-path=/run/netns/" + h.state.HostNetns,
		"--capability=CAP_NET_ADMIN", // networkd and nested veths need it
		"--console=passive",
		"--link-journal=no",
		"--resolv-conf=off", "--timezone=off", // keep host files out of the root
	}
	// A cgroup of its own (see cgroup.go), recorded in the run state; it
	// is named after the run, so the stale sweep also finds one that a run
	// killed before the save did not record.
	cgName := strings.TrimSuffix(h.state.HostNetns, "-host") // nse2e-PID-N
	h.state.Cgroups, err = createCgroups(cgName)
	if serr := h.state.save(h.dir); err == nil && serr != nil {
		err = fmt.Errorf("testhost: save run state: %w", serr)
	}
	if err != nil {
		return err
	}
	shArgs := append([]string{"-c", enterCgroupsScript, "sh"}, h.state.Cgroups...)
	shArgs = append(append(shArgs, "--", "systemd-nspawn"), args...)
	cmd := exec.Command("/bin/sh", shArgs...)
	cmd.Stdout, cmd.Stderr = h.console, h.console
	// /proc/sys/net writable, as on a real host: nspawn mounts /proc/sys
	// read-only and makes net/ writable only for --private-network, which
	// --network-namespace-path excludes. nspawnctl's forwards from the host's
	// localhost need route_localnet on the machine's link. The namespace is
	// the test host's own, so nothing outside it changes.
	cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_API_VFS_WRITABLE=network")
	if h.suite.UnifiedCgroups {
		cmd.Env = append(cmd.Env, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1")
	}
	// Its own process group: a Ctrl-C at the terminal reaches the test binary,
	// whose handler powers the host off in order, not nspawn directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testhost: start systemd-nspawn: %w", err)
	}
	h.nspawn = cmd
	h.state.NspawnPID = cmd.Process.Pid
	h.state.NspawnSt = procStartTime(cmd.Process.Pid)
	go func() { _ = cmd.Wait(); close(h.exited) }()
	if err := h.state.save(h.dir); err != nil {
		return fmt.Errorf("testhost: save run state: %w", err)
	}

	leader, err := h.findLeader(ctx, 30*time.Second)
	if err != nil {
		return err
	}
	h.state.Leader, h.state.LeaderSt = leader, procStartTime(leader)
	if err := h.state.save(h.dir); err != nil {
		return fmt.Errorf("testhost: save run state: %w", err)
	}
	if err := h.waitRunning(ctx, 120*time.Second); err != nil {
		return err
	}
	// "running" does not imply that networkd has configured the uplink yet;
	// tests should not have to retry for that.
	if _, _, err := h.Exec(ctx, "/lib/systemd/systemd-networkd-wait-online", "-i", HostUplink, "--timeout=30"); err != nil {
		return fmt.Errorf("testhost: %s not configured by networkd inside: %w; journal:\n%s", HostUplink, err, h.Journal("systemd-networkd"))
	}
	return nil
}

// findLeader returns the PID (in our PID namespace) of the test host's
// PID 1: the child of nspawn that lives in another PID namespace and runs
// systemd.
func (h *Host) findLeader(ctx context.Context, timeout time.Duration) (int, error) {
	ourNS, _ := os.Readlink("/proc/self/ns/pid")
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-h.exited:
			return 0, fmt.Errorf("testhost: systemd-nspawn exited during boot; console log:\n%s", tailFile(h.console.Name(), 30))
		case <-ctx.Done():
			return 0, fmt.Errorf("testhost: waiting for the test host's PID 1: %w", ctx.Err())
		default:
		}
		for _, pid := range childrenOf(h.state.NspawnPID) {
			ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || ns == "" || ns == ourNS {
				continue
			}
			if st, err := parseStat(string(data)); err == nil && st.comm == "systemd" {
				return pid, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("testhost: no systemd child of systemd-nspawn (pid %d) after %s; console log:\n%s", h.state.NspawnPID, timeout, tailFile(h.console.Name(), 30))
}

// childrenOf lists the children of pid by scanning /proc (the children file
// needs CONFIG_PROC_CHILDREN, which not every kernel has).
func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var child int
		if _, err := fmt.Sscanf(e.Name(), "%d", &child); err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, err := parseStat(string(data)); err == nil && st.ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// waitRunning polls "systemctl is-system-running" until it says running or
// degraded. Early on systemctl cannot connect yet; that is retried too.
func (h *Host) waitRunning(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		select {
		case <-h.exited:
			return fmt.Errorf("testhost: systemd-nspawn exited during boot; console log:\n%s", tailFile(h.console.Name(), 30))
		default:
		}
		qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
		out, errOut, _ := h.Exec(qctx, "systemctl", "is-system-running", "--wait")
		qcancel()
		state := strings.TrimSpace(out)
		last = strings.TrimSpace(state + " " + errOut)
		switch state {
		case "running":
			return nil
		case "degraded":
			failed, _, _ := h.Exec(ctx, "systemctl", "--failed", "--no-legend", "--plain")
			h.cfg.Logf("test host is degraded; failed units:\n%s", failed)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testhost: not running after %s (last: %q); console log:\n%s", timeout, last, tailFile(h.console.Name(), 30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Suite is the test host's Debian suite (and its systemd version).
func (h *Host) Suite() Suite { return h.suite }

// Cgroups are the test host's own cgroup directories on the machine, one per
// hierarchy.
func (h *Host) Cgroups() []string { return h.state.Cgroups }

// Leader is the PID, in the machine's PID namespace, of the test host's PID 1.
func (h *Host) Leader() int { return h.state.Leader }

// ClientNetns is the path of the client's network namespace, for
// "nsenter --net=PATH".
func (h *Host) ClientNetns() string { return "/run/netns/" + h.state.ClientNets }

// HostNetns is the path of the test host's network namespace.
func (h *Host) HostNetns() string { return "/run/netns/" + h.state.HostNetns }

// execEnv is the environment of commands inside the test host: fixed, so that
// the machine's variables (GOFLAGS, a pager, colours) do not leak in.
var execEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8",
	"HOME=/root",
	"TERM=dumb",
	"SYSTEMD_PAGER=",
	"SYSTEMD_COLORS=0",
}

// Exec runs a command inside the test host (all its namespaces, via nsenter)
// and returns its output. The error names the command and includes the end of
// its stderr.
func (h *Host) Exec(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return h.ExecInput(ctx, nil, args...)
}

// ExecInput is Exec with stdin connected to in.
func (h *Host) ExecInput(ctx context.Context, in io.Reader, args ...string) (stdout, stderr string, err error) {
	if h.state.Leader == 0 {
		return "", "", errors.New("testhost: Exec before the test host booted")
	}
	nsargs := append([]string{"-t", fmt.Sprint(h.state.Leader), "-a", "--"}, args...)
	return run(ctx, in, execEnv, "nsenter", nsargs...)
}

// Sh runs a shell script inside the test host with sh -c.
func (h *Host) Sh(ctx context.Context, script string) (stdout, stderr string, err error) {
	return h.Exec(ctx, "sh", "-c", script)
}

// ClientExec runs a command in the client namespace (network namespace only:
// the machine's file system and tools, e.g. curl, are used).
func (h *Host) ClientExec(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	nsargs := append([]string{"--net=" + h.ClientNetns(), "--"}, args...)
	return run(ctx, nil, os.Environ(), "nsenter", nsargs...)
}

func run(ctx context.Context, in io.Reader, env []string, name string, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Env = in, &out, &errb, env
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w; stderr: %s", strings.Join(args, " "), err, tailLines(errb.String(), 10))
	}
	return out.String(), errb.String(), err
}

// CopyIn copies a file or a directory tree from the machine into the test
// host at dst. A file keeps its permission bits and replaces dst atomically
// (written beside it, then renamed), so a running binary can be replaced. A
// directory's contents are unpacked into dst, which is created.
func (h *Host) CopyIn(ctx context.Context, src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("testhost: copy %s into the test host: %w", src, err)
	}
	if fi.IsDir() {
		tar := exec.CommandContext(ctx, "tar", "-C", src, "-c", ".")
		pipe, err := tar.StdoutPipe()
		if err != nil {
			return err
		}
		if err := tar.Start(); err != nil {
			return fmt.Errorf("testhost: tar %s: %w", src, err)
		}
		_, _, xerr := h.ExecInput(ctx, pipe, "sh", "-c", `mkdir -p "$1" && tar -C "$1" -x`, "sh", dst)
		terr := tar.Wait()
		if err := errors.Join(xerr, terr); err != nil {
			return fmt.Errorf("testhost: copy directory %s to %s: %w", src, dst, err)
		}
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("testhost: copy %s into the test host: %w", src, err)
	}
	defer f.Close()
	mode := fmt.Sprintf("%o", fi.Mode().Perm())
	script := `set -e; mkdir -p "$(dirname "$1")"; cat > "$1.e2e-tmp"; chmod "$2" "$1.e2e-tmp"; mv -f "$1.e2e-tmp" "$1"`
	if _, _, err := h.ExecInput(ctx, f, "sh", "-c", script, "sh", dst, mode); err != nil {
		return fmt.Errorf("testhost: copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// WriteFile writes content to path inside the test host with mode perm,
// creating parent directories.
func (h *Host) WriteFile(ctx context.Context, path, content string, perm os.FileMode) error {
	script := `set -e; mkdir -p "$(dirname "$1")"; cat > "$1.e2e-tmp"; chmod "$2" "$1.e2e-tmp"; mv -f "$1.e2e-tmp" "$1"`
	if _, _, err := h.ExecInput(ctx, strings.NewReader(content), "sh", "-c", script, "sh", path, fmt.Sprintf("%o", perm)); err != nil {
		return fmt.Errorf("testhost: write %s: %w", path, err)
	}
	return nil
}

// Journal returns the test host's journal for a unit (the last 300 lines),
// for diagnostics. Errors are returned as text, since it is used in failure
// paths.
func (h *Host) Journal(unit string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, errOut, err := h.Exec(ctx, "journalctl", "--no-pager", "-o", "short-monotonic", "-n", "300", "-u", unit)
	if err != nil {
		return fmt.Sprintf("(journal of %s unavailable: %v)\n%s", unit, err, errOut)
	}
	return out
}

// Diagnostics collects the state of the test host that usually explains a
// failure: failed units, links, addresses, NAT rules, machines and the end of
// the console log.
func (h *Host) Diagnostics() string {
	var b strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range [][]string{
		{"systemctl", "--failed", "--no-legend", "--plain"},
		{"networkctl", "list"},
		{"ip", "-br", "addr"},
		{"nft", "list", "ruleset"},
		{"machinectl", "list", "--no-legend"},
	} {
		out, errOut, err := h.Exec(ctx, c...)
		fmt.Fprintf(&b, "### %s\n%s%s", strings.Join(c, " "), out, errOut)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	if h.console != nil {
		fmt.Fprintf(&b, "### console (last 40 lines)\n%s\n", tailFile(h.console.Name(), 40))
	}
	return b.String()
}

// Close powers the test host off (bounded), kills the systemd-nspawn process
// it started if it is still alive, and removes the namespaces, the veth pair
// and the run directory with the root copy. It is idempotent and safe to call
// from a signal handler's goroutine.
func (h *Host) Close() error {
	h.closeMu.Lock()
	defer h.closeMu.Unlock()
	if h.closed {
		return h.closeErr
	}
	h.closed = true
	defer unregister(h)
	err := h.state.teardown(h.dir, true, h.cfg.Logf)
	if h.nspawn != nil {
		select {
		case <-h.exited:
		case <-time.After(10 * time.Second):
			err = errors.Join(err, fmt.Errorf("testhost: systemd-nspawn (pid %d) was not reaped", h.state.NspawnPID))
		}
	}
	if h.console != nil {
		h.console.Close()
	}
	if err != nil {
		h.closeErr = fmt.Errorf("testhost: cleanup of %s incomplete: %w (the next run removes leftovers, or run e2e/cleanup)", h.dir, err)
	}
	return h.closeErr
}
