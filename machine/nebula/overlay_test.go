package nebula

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// The overlay test runs real nebula 1.6.1 processes the way the sidecar
// unit does, without systemd: each "container" is a network namespace held
// by a process (its "leader"), bind-mounted with BindNetns as prepare does;
// nebula enters it (nsenter --net=, as NetworkNamespacePath= does) as uid
// 65534 with only CAP_NET_ADMIN (setpriv, as DynamicUser= and
// AmbientCapabilities= do), reading config.yml from a copy only that uid can
// read (as LoadCredential= does). A namespace "internet" holds a bridge and
// the lighthouse. Addresses: underlay 203.0.113.0/24, overlay 198.51.100.0/24,
// both only inside the test's namespaces.

type overlayEnv struct {
	t       *testing.T
	dir     string
	netns   string // directory of the bind mounts
	host    string // the host's files (Artifacts' output)
	holders map[string]int
	logs    map[string]string
	nebulas map[string]*exec.Cmd
}

func needRootTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the overlay test needs root (network namespaces, bind mounts)")
	}
	for _, tool := range []string{"nebula", "ip", "nsenter", "setpriv", "unshare", "busybox"} {
		needTool(t, tool)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
}

func (e *overlayEnv) run(name string, args ...string) string {
	e.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs a command inside namespace ns.
func (e *overlayEnv) in(ns string, args ...string) string {
	e.t.Helper()
	return e.run("nsenter", append([]string{"--net=" + e.nsPath(ns), "--"}, args...)...)
}

func (e *overlayEnv) try(ns string, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=" + e.nsPath(ns), "--"}, args...)...).CombinedOutput()
	return string(out), err
}

func (e *overlayEnv) nsPath(ns string) string { return filepath.Join(e.netns, ns) }

// newNamespace starts a leader in a new network namespace and bind-mounts
// the namespace as prepare does.
func (e *overlayEnv) newNamespace(name string) {
	e.t.Helper()
	cmd := exec.Command("unshare", "--net", "--", "sleep", "600")
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	pid := cmd.Process.Pid
	e.holders[name] = pid
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	self, _ := NetnsInode("/proc/self/ns/net")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ino, err := NetnsInode(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err == nil && ino != self {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("leader %d of %s did not enter a new network namespace", pid, name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p := e.nsPath(name)
	if err := BindNetns(pid, p); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := UnbindNetns(p); err != nil {
			e.t.Errorf("cleanup: %v", err)
		}
	})
	e.in(name, "ip", "link", "set", "lo", "up")
}

// startNebula runs nebula for machine in namespace ns the sidecar's way.
func (e *overlayEnv) startNebula(machine, ns string, config []byte) *exec.Cmd {
	e.t.Helper()
	creds := filepath.Join(e.dir, "credentials", machine)
	if err := os.MkdirAll(creds, 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(creds), 0o711); err != nil {
		e.t.Fatal(err)
	}
	cfgPath := filepath.Join(creds, "config.yml")
	if err := os.WriteFile(cfgPath, config, 0o400); err != nil {
		e.t.Fatal(err)
	}
	// The console's host key, as LoadCredential= in the sidecar's drop-in gives it.
	keyPath := filepath.Join(creds, ConsoleCredential)
	hostKey, err := os.ReadFile(filepath.Join(e.host, ConsoleHostKeyPath(machine)))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, hostKey, 0o400); err != nil {
		e.t.Fatal(err)
	}
	for _, p := range []string{creds, cfgPath, keyPath} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			e.t.Fatal(err)
		}
	}
	priv := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs",
		"--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin", "--bounding-set=-all,+net_admin",
		"nebula", "-config", cfgPath}
	args := append([]string{"--net=" + e.nsPath(ns), "--"}, priv...)
	// In a mount namespace of its own, the credentials are where systemd
	// puts them (the config names that path for the console's host key).
	script := `mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p "$CREDS_AT" && mount --bind "$CREDS" "$CREDS_AT"`
	if st, err := os.Stat("/dev/net/tun"); err == nil && st.Mode().Perm()&0o006 != 0o006 {
		// Stock Debian and NixOS have /dev/net/tun 0666; some sandboxes
		// have 0600. Give this process alone a 0666 node.
		script += ` && mount -t tmpfs -o mode=0755 tmpfs /dev/net && mknod -m 0666 /dev/net/tun c 10 200`
	}
	args = append([]string{"-m", "--propagation", "private", "--", "sh", "-c", script + ` && exec "$@"`, "sh", "nsenter"}, args...)
	name := "unshare"
	log := filepath.Join(e.dir, "log-"+machine)
	f, err := os.Create(log)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "CREDS="+creds, "CREDS_AT=/run/credentials/"+SidecarInstance(machine))
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.logs[machine] = log
	e.nebulas[machine] = cmd
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func (e *overlayEnv) dumpLogs() {
	for m, p := range e.logs {
		b, _ := os.ReadFile(p)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		e.t.Logf("--- nebula %s:\n%s", m, b)
	}
}

// waitFor polls cond (at most timeout).
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// inNetns runs f on a thread inside the namespace at path. Sockets made by f
// stay in that namespace.
func inNetns(path string, f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := netns.GetFromPath(path)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with the goroutine instead of
		// running other code in the wrong namespace.
		return fmt.Errorf("returning to the original namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

func dialIn(path, addr string, timeout time.Duration) (string, error) {
	var got string
	err := inNetns(path, func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		b, err := io.ReadAll(c)
		got = string(b)
		return err
	})
	return got, err
}

func TestOverlay(t *testing.T) {
	needRootTools(t)
	dir := t.TempDir()
	// The credentials copies are read by uid 65534: let it traverse.
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		_ = os.Chmod(p, 0o711)
	}
	e := &overlayEnv{t: t, dir: dir, netns: filepath.Join(dir, "netns"), holders: map[string]int{}, logs: map[string]string{}, nebulas: map[string]*exec.Cmd{}}
	defer func() {
		if t.Failed() {
			e.dumpLogs()
		}
	}()

	// Underlay: "internet" with a bridge, three containers on it.
	e.newNamespace("inet")
	e.in("inet", "ip", "link", "add", "br0", "type", "bridge")
	e.in("inet", "ip", "addr", "add", "203.0.113.1/24", "dev", "br0")
	e.in("inet", "ip", "link", "set", "br0", "up")
	containers := []string{"c1", "c2", "c3"}
	for i, c := range containers {
		e.newNamespace(c)
		peer := "v" + c
		e.in(c, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", peer, "netns", strconv.Itoa(e.holders["inet"]))
		e.in("inet", "ip", "link", "set", peer, "master", "br0", "up")
		e.in(c, "ip", "addr", "add", fmt.Sprintf("203.0.113.%d/24", 11+i), "dev", "eth0")
		e.in(c, "ip", "link", "set", "eth0", "up")
	}

	// Certificates and configs, as Manager.Create gets them from Artifacts.
	caCrt, caKey := testCA(t, filepath.Join(dir), netip.MustParsePrefix("198.51.100.0/24"))
	host := filepath.Join(dir, "host")
	e.host = host
	pool := netip.MustParsePrefix("198.51.100.0/24")
	lhAddr := "198.51.100.1"
	common := func(groups ...string) *Settings {
		return withDefaults(&Settings{Network: "test", CA: caCrt, CAKey: caKey, Pool: pool, Groups: groups,
			Lighthouses: addrs(lhAddr), StaticHostMap: map[netip.Addr][]string{netip.MustParseAddr(lhAddr): {"203.0.113.1:4242"}},
			Inbound: []Rule{{Proto: "icmp", Host: "any"}}})
	}
	cfgs := map[string]*Settings{
		"lh": withDefaults(&Settings{Network: "test", CA: caCrt, CAKey: caKey, Address: pfx(lhAddr + "/24"), AmLighthouse: true, Inbound: []Rule{{Proto: "icmp", Host: "any"}}}),
		"c1": common("server"),
		"c2": common("client"),
		"c3": common("other"),
	}
	// c1 serves TCP 8080 to members of "client" only.
	cfgs["c1"].Inbound = append(cfgs["c1"].Inbound, Rule{Port: "8080", Proto: "tcp", Group: "client"})
	version, err := DetectVersion(t.Context(), "nebula")
	if err != nil {
		t.Fatal(err)
	}
	taken := []netip.Addr{netip.MustParseAddr(lhAddr)}
	addrs := map[string]netip.Prefix{}
	configs := map[string][]byte{}
	for _, m := range []string{"lh", "c1", "c2", "c3"} {
		var a netip.Prefix
		if !cfgs[m].Address.IsValid() {
			if a, err = Allocate(pool, m, taken); err != nil {
				t.Fatal(err)
			}
			taken = append(taken, a.Addr())
		}
		res, err := Artifacts(Request{Machine: m, Settings: cfgs[m], Address: a, Version: version, ReadFile: rooted(host), Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		addrs[m] = res.Address
		for _, f := range res.Files {
			base := host
			if f.InRoot {
				base = filepath.Join(dir, "roots", m)
			}
			p := filepath.Join(base, f.Path)
			mode := os.FileMode(0o755)
			if !f.InRoot {
				mode = DirMode
			}
			if err := os.MkdirAll(filepath.Dir(p), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.Content, os.FileMode(f.Mode)); err != nil {
				t.Fatal(err)
			}
			if f.Path == ConfigPath(m) {
				configs[m] = f.Content
			}
		}
	}
	t.Logf("overlay addresses: %v", addrs)

	start := time.Now()
	lh := e.startNebula("lh", "inet", configs["lh"])
	for _, c := range containers {
		e.startNebula(c, c, configs[c])
	}
	for _, c := range containers {
		want := addrs[c].String()
		if !waitFor(10*time.Second, func() bool {
			out, err := e.try(c, "ip", "-o", "addr", "show", "dev", DefaultDevice)
			return err == nil && strings.Contains(out, want)
		}) {
			t.Fatalf("%s: %s with %s did not appear in its namespace", c, DefaultDevice, want)
		}
		// The process (so its tun and its UDP socket) is in the
		// container's namespace, and the device is not in the internet's.
		pidNS, err := NetnsInode(fmt.Sprintf("/proc/%d/ns/net", e.nebulas[c].Process.Pid))
		cNS, _ := NetnsInode(e.nsPath(c))
		if err != nil || pidNS != cNS {
			t.Errorf("nebula of %s runs in network namespace %d, want %d (%v)", c, pidNS, cNS, err)
		}
		if out := e.in("inet", "ip", "-o", "addr", "show"); strings.Contains(out, addrs[c].Addr().String()+"/") {
			t.Errorf("%s's overlay address is in the internet namespace:\n%s", c, out)
		}
	}
	if out, err := exec.Command("ip", "-o", "addr", "show").CombinedOutput(); err != nil || strings.Contains(string(out), "198.51.100.") {
		t.Errorf("an overlay address reached the machine's own namespace (%v):\n%s", err, out)
	}
	t.Logf("three sidecars and a lighthouse up in %v", time.Since(start).Round(time.Millisecond))

	// The sidecars run with only CAP_NET_ADMIN as uid 65534.
	for m, cmd := range e.nebulas {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		for _, want := range []string{"CapEff:\t0000000000001000", "CapBnd:\t0000000000001000", "CapAmb:\t0000000000001000", "Uid:\t65534\t65534\t65534\t65534"} {
			if !bytes.Contains(status, []byte(want)) {
				t.Errorf("nebula of %s: /proc/PID/status lacks %q", m, want)
			}
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if strings.TrimSpace(string(comm)) != "nebula" {
			t.Errorf("PID %d of %s is %q, not nebula", cmd.Process.Pid, m, comm)
		}
	}
	if lh.ProcessState != nil {
		t.Fatalf("the lighthouse exited: %v", lh.ProcessState)
	}

	// Ping over the overlay, both ways, including via the lighthouse's
	// handshake relay.
	ping := func(from string, to netip.Prefix) bool {
		return waitFor(20*time.Second, func() bool {
			_, err := e.try(from, "busybox", "ping", "-c", "1", "-W", "1", to.Addr().String())
			return err == nil
		})
	}
	pingStart := time.Now()
	for _, p := range [][2]string{{"c2", "c1"}, {"c1", "c2"}, {"c3", "c1"}, {"c1", "lh"}} {
		if !ping(p[0], addrs[p[1]]) {
			t.Fatalf("%s cannot ping %s (%s) over the overlay", p[0], p[1], addrs[p[1]].Addr())
		}
	}
	t.Logf("pings over the overlay answered after %v", time.Since(pingStart).Round(time.Millisecond))

	// The console lists the peers that answered, from the host, with the
	// keys nspawnctl holds; a client in the container without them is refused.
	checkConsole(t, e, "c1", map[string]netip.Prefix{"lh": addrs["lh"], "c2": addrs["c2"]})

	// TCP 8080 on c1: a member of "client" gets in, a non-member does not.
	var ln net.Listener
	target := netip.AddrPortFrom(addrs["c1"].Addr(), 8080).String()
	if err := inNetns(e.nsPath("c1"), func() error {
		var err error
		ln, err = net.Listen("tcp", target)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello over nebula"))
			c.Close()
		}
	}()
	var got string
	if !waitFor(10*time.Second, func() bool {
		got, err = dialIn(e.nsPath("c2"), target, 2*time.Second)
		return err == nil
	}) {
		t.Fatalf("c2 (group client) cannot reach %s: %v", target, err)
	}
	if got != "hello over nebula" {
		t.Errorf("c2 read %q", got)
	}
	if got, err := dialIn(e.nsPath("c3"), target, 3*time.Second); err == nil {
		t.Errorf("c3 (group other) reached %s through the group rule and read %q", target, got)
	} else {
		t.Logf("c3 (not in group client) kept out of %s: %v", target, err)
	}

	// Keys: 0600 in a 0700 directory, unreadable by the sidecar's uid and
	// anyone else; nothing secret in the containers' roots.
	for _, m := range []string{"c1", "c2", "c3"} {
		d := filepath.Join(host, Dir(m))
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm() != DirMode {
			t.Errorf("%s: %v, mode %v", d, err, st.Mode())
		}
		for _, f := range []string{ConfigPath(m), KeyPath(m)} {
			p := filepath.Join(host, f)
			if out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", p).CombinedOutput(); err == nil {
				t.Errorf("uid 65534 can read %s: %q", p, out)
			}
		}
		root := filepath.Join(dir, "roots", m)
		_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				b, _ := os.ReadFile(p)
				if bytes.Contains(b, []byte("PRIVATE KEY")) || bytes.Contains(b, []byte("NEBULA CERTIFICATE")) {
					t.Errorf("%s inside the root of %s holds key material", p, m)
				}
			}
			return nil
		})
	}

	// Stopping a sidecar removes its interface from the container.
	c2 := e.nebulas["c2"]
	if err := c2.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c2.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c2.Process.Kill()
		<-done
		t.Error("nebula of c2 did not stop within 10 s of SIGTERM")
	}
	if !waitFor(5*time.Second, func() bool {
		_, err := e.try("c2", "ip", "link", "show", DefaultDevice)
		return err != nil
	}) {
		t.Error("c2's nebula1 is still there after its sidecar stopped")
	}
	// Kill -9 too: the kernel removes a non-persistent tun with its last fd.
	c3 := e.nebulas["c3"]
	_ = c3.Process.Kill()
	_ = c3.Wait()
	if !waitFor(5*time.Second, func() bool {
		_, err := e.try("c3", "ip", "link", "show", DefaultDevice)
		return err != nil
	}) {
		t.Error("c3's nebula1 is still there after its sidecar was killed")
	}
	// The others are unaffected.
	if !ping("c1", addrs["lh"]) {
		t.Error("c1 lost the overlay when other sidecars stopped")
	}
}

// checkConsole asks machine's console for its peers as `nebula status`
// does, wants each of want listed under its name and address, and tries the
// console from inside the container with a key of its own, which must fail.
func checkConsole(t *testing.T, e *overlayEnv, machine string, want map[string]netip.Prefix) {
	t.Helper()
	hostKey, err := os.ReadFile(filepath.Join(e.host, ConsoleHostKeyPath(machine)))
	if err != nil {
		t.Fatal(err)
	}
	clientKey, err := os.ReadFile(filepath.Join(e.host, ConsoleClientKeyPath(machine)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var peers []Peer
	if !waitFor(10*time.Second, func() bool { peers, err = QueryPeers(ctx, e.nsPath(machine), hostKey, clientKey); return err == nil }) {
		t.Fatalf("%s: listing peers: %v", machine, err)
	}
	t.Logf("%s's peers: %+v", machine, peers)
	for name, addr := range want {
		found := false
		for _, p := range peers {
			if p.Name == name && len(p.Addresses) > 0 && p.Addresses[0] == addr.Addr().String() && p.Remote != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s's peers lack %s (%s) with an underlay address: %+v", machine, name, addr.Addr(), peers)
		}
	}
	// From the container's side: the port answers, but not without the key.
	stranger, err := newSSHKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := QueryPeers(ctx, e.nsPath(machine), hostKey, stranger); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("%s: the console let in a key it does not know (err %v)", machine, err)
	}
	// And a console whose host key is not the one nspawnctl made is refused.
	if _, err := QueryPeers(ctx, e.nsPath(machine), stranger, clientKey); err == nil || !strings.Contains(err.Error(), "host key") {
		t.Errorf("%s: a console with another host key was believed (err %v)", machine, err)
	}
}
