package main

import (
	"crypto/rand"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

func TestNebulaCAInit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ca")
	code, stdout, stderr := runCLI(t, "nebula", "ca", "init", "--name", "corp", "--out", out, "--networks", "198.51.100.0/24", "--duration", "48h")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "created Nebula CA \"corp\"") {
		t.Errorf("stdout: %s", stdout)
	}
	for f, mode := range map[string]os.FileMode{"ca.crt": 0o644, "ca.key": 0o600} {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v, want %v", f, err, st.Mode(), mode)
		}
	}
	if code, _, stderr := runCLI(t, "nebula", "ca", "init", "--name", "corp", "--out", out); code == exitOK || !strings.Contains(stderr, "does not overwrite") {
		t.Errorf("a second init over the CA: exit %d, %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "nebula", "ca", "init", "--out", out); code != exitUsage {
		t.Errorf("init without --name: exit %d, want %d", code, exitUsage)
	}
	// Debian's nebula-cert signs with it, and verifies what it signed.
	nc, err := exec.LookPath("nebula-cert")
	if err != nil {
		t.Skip("nebula-cert is not installed")
	}
	dir := t.TempDir()
	if b, err := exec.Command(nc, "sign", "-ca-crt", filepath.Join(out, "ca.crt"), "-ca-key", filepath.Join(out, "ca.key"),
		"-name", "h", "-ip", "198.51.100.4/24", "-out-crt", filepath.Join(dir, "h.crt"), "-out-key", filepath.Join(dir, "h.key")).CombinedOutput(); err != nil {
		t.Fatalf("nebula-cert sign: %v\n%s", err, b)
	}
	if b, err := exec.Command(nc, "verify", "-ca", filepath.Join(out, "ca.crt"), "-crt", filepath.Join(dir, "h.crt")).CombinedOutput(); err != nil {
		t.Fatalf("nebula-cert verify: %v\n%s", err, b)
	}
	// The CA's network limit holds.
	if b, err := exec.Command(nc, "sign", "-ca-crt", filepath.Join(out, "ca.crt"), "-ca-key", filepath.Join(out, "ca.key"),
		"-name", "x", "-ip", "203.0.113.4/24", "-out-crt", filepath.Join(dir, "x.crt"), "-out-key", filepath.Join(dir, "x.key")).CombinedOutput(); err == nil {
		t.Errorf("nebula-cert signed outside the CA's networks:\n%s", b)
	}
}

// writeNebulaMachine writes machine m1's sidecar files (address
// 198.51.100.9/24, groups) under confRoot, with a CA in dir, made by the same
// code apply uses.
func writeNebulaMachine(t *testing.T, dir, confRoot string, groups []string) {
	t.Helper()
	caCrt, caKey, err := nebula.NewCA("t", time.Hour, nil, nil, nil, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ca.crt"), caCrt, 0o600)
	os.WriteFile(filepath.Join(dir, "ca.key"), caKey, 0o600)
	// The defaults are what machine/resolve fills in for a block without them.
	cfg := &nebula.Settings{Network: "t", CA: filepath.Join(dir, "ca.crt"), CAKey: filepath.Join(dir, "ca.key"), Groups: groups,
		CertVersion: 1, RenewBefore: nebula.RenewBefore, Punchy: true, Device: nebula.DefaultDevice, MTU: nebula.DefaultMTU}
	res, err := nebula.Artifacts(nebula.Request{Machine: "m1", Settings: cfg, Address: netip.MustParsePrefix("198.51.100.9/24")})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		if f.InRoot {
			continue
		}
		p := filepath.Join(confRoot, strings.TrimPrefix(f.Path, nebula.ConfigRoot))
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, f.Content, os.FileMode(f.Mode))
	}
}

// prepare, status and cleanup against a process in its own network
// namespace, as the netns unit runs them (with --leader instead of machined,
// which this machine does not have).
func TestNebulaPrepareCleanup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, bind mounts)")
	}
	bin, err := exec.LookPath("nebula")
	if err != nil {
		t.Skip("nebula is not installed")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare is missing")
	}
	dir := t.TempDir()
	confRoot, nsDir := filepath.Join(dir, "conf"), filepath.Join(dir, "netns")
	writeNebulaMachine(t, dir, confRoot, []string{"g"})

	holder := exec.Command("unshare", "--net", "--", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	pid := strconv.Itoa(holder.Process.Pid)
	self, _ := nebula.NetnsInode("/proc/self/ns/net")
	for i := 0; i < 100; i++ {
		if ino, err := nebula.NetnsInode("/proc/" + pid + "/ns/net"); err == nil && ino != self {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A tun node of our own: this machine's /dev/net/tun may be 0600 (no
	// udev), which prepare refuses, as checked below.
	tun := filepath.Join(dir, "tun")
	if err := unix.Mknod(tun, unix.S_IFCHR|0o600, int(unix.Mkdev(10, 200))); err != nil {
		t.Fatalf("mknod %s: %v", tun, err)
	}
	flags := []string{"--config-root", confRoot, "--netns-dir", nsDir}
	pflags := append(append([]string(nil), flags...), "--tun", tun) // prepare's
	defer nebula.UnbindNetns(filepath.Join(nsDir, "m1"))
	// The sidecar's dynamic user could not open a 0600 node: refused, with the fix.
	code, _, stderr := runCLI(t, append([]string{"nebula", "prepare", "--nebula", bin, "--leader", pid, "m1"}, pflags...)...)
	if code == exitOK || !strings.Contains(stderr, "chmod 0666") {
		t.Errorf("prepare with a 0600 tun device: exit %d: %s", code, stderr)
	}
	if _, err := os.Lstat(filepath.Join(nsDir, "m1")); !os.IsNotExist(err) {
		t.Errorf("a refused prepare mounted the namespace")
	}
	if err := os.Chmod(tun, 0o666); err != nil {
		t.Fatal(err)
	}

	code, _, stderr = runCLI(t, append([]string{"nebula", "prepare", "--nebula", bin, "--leader", pid, "m1"}, pflags...)...)
	if code != exitOK {
		t.Fatalf("prepare: exit %d: %s", code, stderr)
	}
	want, _ := nebula.NetnsInode("/proc/" + pid + "/ns/net")
	if got, err := nebula.NetnsInode(filepath.Join(nsDir, "m1")); err != nil || got != want {
		t.Fatalf("the bind mount shows namespace %d (%v), want %d", got, err, want)
	}
	// Preparing again (a restarted container) replaces the mount.
	if code, _, stderr := runCLI(t, append([]string{"nebula", "prepare", "--nebula", bin, "--leader", pid, "m1"}, pflags...)...); code != exitOK {
		t.Fatalf("second prepare: exit %d: %s", code, stderr)
	}
	// The host's own namespace is refused.
	if code, _, stderr := runCLI(t, append([]string{"nebula", "prepare", "--nebula", bin, "--leader", strconv.Itoa(os.Getpid()), "m1"}, pflags...)...); code == exitOK || !strings.Contains(stderr, "host's network namespace") {
		t.Errorf("prepare with a host process: exit %d: %s", code, stderr)
	}

	code, stdout, stderr := runCLI(t, append([]string{"nebula", "status", "m1"}, flags...)...)
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, w := range []string{"198.51.100.9/24", "groups:      g", "issued by CA \"t\"", "nebula1 absent"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("status lacks %q:\n%s", w, stdout)
		}
	}

	code, _, stderr = runCLI(t, append([]string{"nebula", "cleanup", "m1"}, flags...)...)
	if code != exitOK {
		t.Fatalf("cleanup: exit %d: %s", code, stderr)
	}
	if _, err := os.Lstat(filepath.Join(nsDir, "m1")); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s (%v)", filepath.Join(nsDir, "m1"), err)
	}
	if code, _, stderr := runCLI(t, append([]string{"nebula", "cleanup", "m1"}, flags...)...); code != exitOK {
		t.Errorf("a second cleanup failed: %s", stderr)
	}

	// A config that needs a newer nebula than the host's is refused at start.
	conf := filepath.Join(confRoot, "m1", "config.yml")
	b, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.Replace(string(b), "nspawnctl-requires-nebula: 1.6.1", "nspawnctl-requires-nebula: 99.0.0", 1)), 0o600)
	code, _, stderr = runCLI(t, append([]string{"nebula", "prepare", "--nebula", bin, "--leader", pid, "m1"}, pflags...)...)
	if code == exitOK || !strings.Contains(stderr, "needs nebula 99.0.0 or later") {
		t.Errorf("prepare with a too-old nebula: exit %d: %s", code, stderr)
	}
	if _, err := os.Lstat(filepath.Join(nsDir, "m1")); !os.IsNotExist(err) {
		t.Errorf("a refused prepare mounted the namespace")
	}
}

// TestNebulaCAInitVersions: --version 1,2 writes a bundle of one key that
// nspawnctl reads with both certificates; an unknown version is a usage error.
func TestNebulaCAInitVersions(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ca")
	if code, _, stderr := runCLI(t, "nebula", "ca", "init", "--name", "corp", "--out", out, "--version", "1,2", "--networks", "fd42::/48"); code != exitUsage || !strings.Contains(stderr, "--version 2") {
		t.Errorf("an IPv6 network in a bundle with v1: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "nebula", "ca", "init", "--name", "corp", "--out", out, "--version", "1,2"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	crt, _ := os.ReadFile(filepath.Join(out, "ca.crt"))
	key, _ := os.ReadFile(filepath.Join(out, "ca.key"))
	ca, err := nebula.ParseCA(crt, key, "ca.crt", "ca.key")
	if err != nil || ca.V1 == nil || ca.V2 == nil {
		t.Fatalf("ParseCA of the bundle: %v, %+v", err, ca)
	}
	if code, _, stderr := runCLI(t, "nebula", "ca", "init", "--name", "x", "--out", t.TempDir(), "--version", "3"); code != exitUsage || !strings.Contains(stderr, "1,2") {
		t.Errorf("--version 3: exit %d, %s", code, stderr)
	}
}
