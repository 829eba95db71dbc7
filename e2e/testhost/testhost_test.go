package testhost

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

func TestMmdebstrapArgsGolden(t *testing.T) {
	var b strings.Builder
	var imgs []Image
	for i, s := range Suites {
		imgs = append(imgs, TestHostImage(s))
		if i == 0 {
			imgs = append(imgs, GuestImage())
		}
	}
	for _, img := range imgs {
		b.WriteString(img.CacheName() + "\n")
		for _, a := range img.MmdebstrapArgs("http://mirror.invalid/debian", "/cache/"+img.CacheName()) {
			b.WriteString("  " + a + "\n")
		}
	}
	golden.Check(t, "testdata/mmdebstrap.golden", []byte(b.String()))
}

func TestImageKey(t *testing.T) {
	bookworm, _ := LookupSuite(DefaultSuite)
	a := TestHostImage(bookworm)
	b := TestHostImage(bookworm)
	slices.Reverse(b.Packages)
	if a.Key() != b.Key() {
		t.Errorf("package order changed the key: %s vs %s", a.Key(), b.Key())
	}
	b.Packages = append(b.Packages, "strace")
	if a.Key() == b.Key() {
		t.Errorf("an added package did not change the key %s", a.Key())
	}
	c := TestHostImage(bookworm)
	c.Hooks = nil
	if a.Key() == c.Key() {
		t.Errorf("removed hooks did not change the key %s", a.Key())
	}
	if a.Key() == GuestImage().Key() {
		t.Errorf("host and guest images share the key %s", a.Key())
	}
	// The default suite's key must not move with the matrix: every cached
	// bookworm image would be rebuilt. The value is the key before suites.
	if a.Key() != "f3c6181ecc7b23ca" {
		t.Errorf("bookworm test host key is %s, was f3c6181ecc7b23ca", a.Key())
	}
	keys := map[string]string{}
	for _, s := range Suites {
		img := TestHostImage(s)
		if prev, ok := keys[img.Key()]; ok {
			t.Errorf("suites %s and %s share the key %s", prev, s.Name, img.Key())
		}
		keys[img.Key()] = s.Name
	}
}

func TestLookupSuite(t *testing.T) {
	s, err := LookupSuite("sid")
	if err != nil || s.Systemd != 262 || !s.UnifiedCgroups {
		t.Errorf("sid = %+v, %v", s, err)
	}
	if _, err := LookupSuite("buster"); err == nil || !strings.Contains(err.Error(), "bookworm, trixie, sid") {
		t.Errorf("unknown suite: err = %v, want the list of suites", err)
	}
}

func TestHierarchyDirs(t *testing.T) {
	mountinfo := `24 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
26 24 0:24 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
27 26 0:25 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
28 26 0:26 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
29 26 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
`
	self := "9:name=systemd:/\n4:memory:/x\n0::/ci/job\n"
	got := hierarchyDirs(mountinfo, self)
	want := []string{"/sys/fs/cgroup/unified/ci/job", "/sys/fs/cgroup/systemd"}
	if !slices.Equal(got, want) {
		t.Errorf("hybrid: got %q, want %q", got, want)
	}
	unified := "30 24 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
	if got := hierarchyDirs(unified, "0::/\n"); !slices.Equal(got, []string{"/sys/fs/cgroup"}) {
		t.Errorf("unified: got %q", got)
	}
}

func TestMirrorFromSources(t *testing.T) {
	tests := []struct {
		name    string
		content string
		deb822  bool
		want    string
	}{
		{"deb822", `Types: deb
# comment
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
`, true, "http://deb.debian.org/debian"},
		{"deb822 security first", `Types: deb
URIs: http://security.debian.org/debian-security
Suites: bookworm-security

Types: deb-src deb
URIs: http://mirror.example/debian
Suites: bookworm
`, true, "http://mirror.example/debian"},
		{"deb822 src only", "Types: deb-src\nURIs: http://mirror.example/debian\n", true, ""},
		{"one-line", "# deb http://old/debian bookworm main\ndeb-src http://src/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n", false, "http://mirror.example/debian"},
		{"one-line security only", "deb http://security.debian.org/debian-security bookworm-security main\n", false, ""},
		{"cdrom", "deb cdrom:[Debian]/ bookworm main\n", false, ""},
	}
	for _, tt := range tests {
		if got := MirrorFromSources(tt.content, tt.deb822); got != tt.want {
			t.Errorf("%s: MirrorFromSources = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseStat(t *testing.T) {
	line := "4242 (my (odd) comm) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 17 || st.start != 987654 || st.comm != "my (odd) comm" {
		t.Errorf("parseStat = %+v", st)
	}
	if _, err := parseStat("garbage"); err == nil {
		t.Error("parseStat accepted garbage")
	}
	if !zombie("12 (x) Z 1 2") || zombie("12 (x) S 1 2") {
		t.Error("zombie misreads the state field")
	}
}

func TestMountsUnder(t *testing.T) {
	info := `22 1 0:21 / / rw - ext4 /dev/vda rw
30 22 0:40 / /var/tmp/e2e/run-1/root/proc rw - proc proc rw
31 22 0:41 / /var/tmp/e2e/run-1 rw - tmpfs tmpfs rw
32 22 0:42 / /var/tmp/e2e/run-10 rw - tmpfs tmpfs rw
33 22 0:43 / /var/tmp/e2e/run-1/with\040space rw - tmpfs tmpfs rw
`
	got := mountsUnder(info, "/var/tmp/e2e/run-1/")
	want := []string{"/var/tmp/e2e/run-1/root/proc", "/var/tmp/e2e/run-1/with space", "/var/tmp/e2e/run-1"}
	if !slices.Equal(got, want) {
		t.Errorf("mountsUnder = %q, want %q", got, want)
	}
}

func TestNetnsNames(t *testing.T) {
	h, c := netnsNames(1234, 7)
	for _, n := range []string{h, c} {
		pid, ok := netnsOwner(n)
		if !ok || pid != 1234 {
			t.Errorf("netnsOwner(%q) = %d, %v", n, pid, ok)
		}
	}
	for _, n := range []string{"client", "nse2e-", "nse2e-x-host", "nse2e-0-host"} {
		if _, ok := netnsOwner(n); ok {
			t.Errorf("netnsOwner(%q) accepted a foreign name", n)
		}
	}
}

func TestParseMachineAddresses(t *testing.T) {
	got, err := ParseMachineAddresses([]byte(`{"type":"a(iay)","data":[[[2,[10,0,0,2]],[2,[169,254,1,2]],[10,[254,128,0,0,0,0,0,0,0,0,0,0,0,0,0,1]]]]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("169.254.1.2"), netip.MustParseAddr("fe80::1")}
	if !slices.Equal(got, want) {
		t.Errorf("ParseMachineAddresses = %v, want %v", got, want)
	}
	got, err = ParseMachineAddresses([]byte(`{"type":"a(iay)","data":[[]]}`))
	if err != nil || len(got) != 0 {
		t.Errorf("empty reply: %v, %v", got, err)
	}
	for _, bad := range []string{``, `{"type":"s","data":["x"]}`, `{"type":"a(iay)","data":[]}`, `{"type":"a(iay)","data":[[[2,[1,2,3]]]]}`} {
		if _, err := ParseMachineAddresses([]byte(bad)); err == nil {
			t.Errorf("ParseMachineAddresses(%q) accepted it", bad)
		}
	}
}

func TestUplinkNetworkGolden(t *testing.T) {
	golden.Check(t, "testdata/uplink.network.golden", []byte(uplinkNetwork(DefaultUplink())))
}

func TestCleanupStale(t *testing.T) {
	work := t.TempDir()
	mk := func(name string, s *runState) string {
		dir := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Join(dir, "root", "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if s != nil {
			if err := s.save(dir); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	self := os.Getpid()
	// Owner PID exists (us) but started at another time: a reused PID, so stale.
	stale := mk("run-1", &runState{OwnerPID: self, OwnerStart: 1, HostNetns: "nse2e-unit-absent-h", ClientNets: "nse2e-unit-absent-c"})
	live := mk("run-2", &runState{OwnerPID: self, OwnerStart: procStartTime(self)})
	fresh := mk("run-3", nil) // no state yet: maybe a run starting now
	old := mk("run-4", nil)   // no state for long: a run killed at birth
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	other := mk("unrelated", nil)
	if err := os.Chtimes(other, past, past); err != nil {
		t.Fatal(err)
	}

	if err := CleanupStale(work, t.Logf); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{stale: false, live: true, fresh: true, old: false, other: true} {
		_, err := os.Stat(dir)
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", dir, got, want)
		}
	}
}

// TestCleanupStaleCgroups: in the machine's real cgroup hierarchies, the
// cgroup (and nspawn's payload below it) of a run whose owner is gone is
// removed; that of a live owner stays.
func TestCleanupStaleCgroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates cgroups")
	}
	parents, err := cgroupHierarchies()
	if err != nil || len(parents) == 0 {
		t.Skipf("no cgroup hierarchy found: %v", err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	deadName := fmt.Sprintf("%s%d-99", netnsPrefix, gone.Process.Pid)
	liveName := fmt.Sprintf("%s%d-99", netnsPrefix, os.Getpid())
	var dead, live []string
	for _, name := range []string{deadName, liveName} {
		dirs, err := createCgroups(name)
		if err != nil {
			t.Skipf("cannot create cgroups here: %v", err)
		}
		for _, d := range dirs {
			t.Cleanup(func() { _ = removeCgroup(d) })
			if err := os.Mkdir(filepath.Join(d, "payload"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if name == deadName {
			dead = dirs
		} else {
			live = dirs
		}
	}
	if err := CleanupStale(t.TempDir(), t.Logf); err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("stale cgroup %s was left", d)
		}
	}
	for _, d := range live {
		if _, err := os.Stat(filepath.Join(d, "payload")); err != nil {
			t.Errorf("live run's cgroup %s was removed: %v", d, err)
		}
	}
}

func TestParseNftFlows(t *testing.T) {
	in := `{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family": "inet", "name": "from4", "table": "e2e_private", "type": ["ipv4_addr", "ipv4_addr"], "flags": ["dynamic"], "elem": [{"concat": ["203.0.113.2", "10.117.25.82"]}]}}]}`
	got, err := parseNftFlows([]byte(in))
	if err != nil || len(got) != 1 || got[0].Src.String() != "203.0.113.2" || got[0].Dst.String() != "10.117.25.82" {
		t.Fatalf("got %v, %v", got, err)
	}
	empty := `{"nftables": [{"metainfo": {}}, {"set": {"family": "inet", "name": "from6", "table": "e2e_private", "type": ["ipv6_addr", "ipv6_addr"]}}]}`
	if got, err := parseNftFlows([]byte(empty)); err != nil || len(got) != 0 {
		t.Fatalf("empty set: %v, %v", got, err)
	}
}

// The topology's address plan: every host its own subnet, routed through
// the router's end of its link; the first host keeps the default link.
func TestTopologyUplink(t *testing.T) {
	seen := map[string]bool{}
	for k := 1; k <= MaxTopologyHosts; k++ {
		u := TopologyUplink(k, "r")
		if !u.Gateway || len(u.Host) == 0 || len(u.Peer) != len(u.Host) {
			t.Fatalf("host %d: %+v", k, u)
		}
		for i, h := range u.Host {
			p := u.Peer[i]
			if seen[h.Masked().String()] {
				t.Errorf("host %d shares subnet %s with another host", k, h.Masked())
			}
			seen[h.Masked().String()] = true
			if h.Masked() != p.Masked() || h.Addr() == p.Addr() {
				t.Errorf("host %d: %s and router %s are not two addresses of one subnet", k, h, p)
			}
			if h.Addr().Is4() && netip.MustParsePrefix("198.51.100.0/25").Contains(h.Addr()) {
				t.Errorf("host %d: %s is in the overlay scenarios' 198.51.100.0/25", k, h)
			}
		}
		if k > 1 && (u.Netns != "r" || u.PeerLink == ClientLink) {
			t.Errorf("host %d: link %s in %q, want its own link in the router", k, u.PeerLink, u.Netns)
		}
		nw := uplinkNetwork(u)
		if !strings.Contains(nw, "Gateway="+u.Peer[0].Addr().String()+"\n") || !strings.Contains(nw, "Address="+u.Host[0].String()+"\n") {
			t.Errorf("host %d: uplink network lacks its address or gateway:\n%s", k, nw)
		}
	}
}
