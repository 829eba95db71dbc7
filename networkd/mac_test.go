package networkd

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

// macHostID is the machine id of the project machine on which the vectors
// below were read from links created by the real systemd-nspawn 252.
var macHostID = mustParseMachineID("3d1219c7c4c5404aaa1f6d2a48adfda4")

func mustParseMachineID(s string) [16]byte {
	id, err := ParseMachineID(s)
	if err != nil {
		panic(err)
	}
	return id
}

func TestMACVectors(t *testing.T) {
	tests := []struct {
		machine         string
		host, container string
	}{
		// Observed: ve-mactest-one had 86:db:85:5b:95:07, host0 8a:cf:c9:41:6c:08.
		{"mactest-one", "86:db:85:5b:95:07", "8a:cf:c9:41:6c:08"},
	}
	for _, tt := range tests {
		if got := HostSideMAC(macHostID, tt.machine).String(); got != tt.host {
			t.Errorf("HostSideMAC(%q) = %s, want %s", tt.machine, got, tt.host)
		}
		if got := ContainerSideMAC(macHostID, tt.machine).String(); got != tt.container {
			t.Errorf("ContainerSideMAC(%q) = %s, want %s", tt.machine, got, tt.container)
		}
	}
}

// TestMACProperties checks the invariants every generated MAC must have and
// records a table of them, so an accidental change of a key shows up.
func TestMACProperties(t *testing.T) {
	var out strings.Builder
	for _, machine := range []string{"web", "db", "verylongmachinename", "a"} {
		macs := map[string]net.HardwareAddr{
			"host":      HostSideMAC(macHostID, machine),
			"container": ContainerSideMAC(macHostID, machine),
			"macvlan0":  MacvlanMAC(macHostID, machine, 0),
			"macvlan1":  MacvlanMAC(macHostID, machine, 1),
		}
		macs["extra0-host"], macs["extra0-container"] = VethExtraMACs(macHostID, machine, 0)
		seen := map[string]string{}
		for _, kind := range []string{"host", "container", "macvlan0", "macvlan1", "extra0-host", "extra0-container"} {
			mac := macs[kind]
			if len(mac) != 6 {
				t.Fatalf("%s MAC of %q has %d bytes, want 6", kind, machine, len(mac))
			}
			if mac[0]&1 != 0 || mac[0]&2 == 0 {
				t.Errorf("%s MAC of %q = %s: want unicast and locally administered", kind, machine, mac)
			}
			if other, dup := seen[mac.String()]; dup {
				t.Errorf("%s and %s MAC of %q are both %s", other, kind, machine, mac)
			}
			seen[mac.String()] = kind
			fmt.Fprintf(&out, "%-20s %-17s %s\n", machine, kind, mac)
		}
	}
	golden.Check(t, "testdata/mac_vectors.golden", []byte(out.String()))
}

// TestMACMatchesNspawn starts the real systemd-nspawn in a throwaway network
// namespace and compares the MACs (and the host side name) it gives the veth
// with ours. The container root gets a machine id different from the host's,
// which shows which of the two nspawn hashes.
func TestMACMatchesNspawn(t *testing.T) {
	busybox := requireNspawn(t)
	hostID, err := ReadMachineID(MachineIDPath)
	if err != nil {
		t.Skipf("no usable host machine id: %v", err)
	}
	for i, machine := range []string{"nctl-mac", "nspawnctl-mac-verification"} {
		t.Run(machine, func(t *testing.T) {
			ns := fmt.Sprintf("nctl-mac-%d-%d", os.Getpid(), i)
			hostSide, inside := runNspawnVeth(t, busybox, ns, machine)
			if want := VethName(machine); hostSide.IfName != want {
				t.Errorf("nspawn named the host side %q, VethName(%q) = %q", hostSide.IfName, machine, want)
			}
			if alt, ok := AltName("ve-" + machine); ok != (len(hostSide.AltNames) > 0) || (ok && hostSide.AltNames[0] != alt) {
				t.Errorf("host side altnames %v, AltName = %q, %v", hostSide.AltNames, alt, ok)
			}
			if want := HostSideMAC(hostID, machine).String(); hostSide.Address != want {
				t.Errorf("host side MAC from nspawn %s, HostSideMAC = %s", hostSide.Address, want)
			}
			if want := ContainerSideMAC(hostID, machine).String(); inside != want {
				t.Errorf("host0 MAC from nspawn %s, ContainerSideMAC = %s", inside, want)
			}
			t.Logf("machine %q: %s %s, host0 %s (derived from the host's machine id)", machine, hostSide.IfName, hostSide.Address, inside)
		})
	}
}

// requireNspawn skips unless the test can run systemd-nspawn here, and
// returns the path of a static busybox for the container root.
func requireNspawn(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and run systemd-nspawn")
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install systemd-container util-linux iproute2)", tool)
		}
	}
	busybox := "/bin/busybox"
	f, err := elf.Open(busybox)
	if err != nil {
		t.Skipf("no busybox at %s (apt-get install busybox-static): %v", busybox, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Skipf("%s is dynamically linked; install busybox-static", busybox)
		}
	}
	return busybox
}

// ipLink is the part of `ip -j link show` output the test reads.
type ipLink struct {
	IfName   string   `json:"ifname"`
	Address  string   `json:"address"`
	AltNames []string `json:"altnames"`
}

// runNspawnVeth runs machine with --network-veth inside the new network
// namespace ns and returns the host side link as seen in ns and host0's MAC
// as seen inside the container. Everything it creates is removed when the
// test ends, pass or fail.
func runNspawnVeth(t *testing.T, busybox, ns, machine string) (ipLink, string) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"bin", "usr", "etc", "proc", "sys", "dev", "run", "tmp", "sync"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "cat", "sleep", "test", "["} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/os-release": "ID=busybox\nNAME=busybox\n",
		// A container machine id unlike the host's: nspawn must not use it.
		"etc/machine-id": "0123456789abcdef0123456789abcdef\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s (remove it by hand)", ns, err, out)
		}
	})

	// The container prints host0's MAC, then waits (at most 20 s) until the
	// test has read the host side and created /sync/done.
	script := `cat /sys/class/net/host0/address; i=0; while [ ! -e /sync/done ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+ns, "systemd-nspawn", "-q", "-D", root,
		"--register=no", "--keep-unit", "--network-veth", "-M", machine, "--", "/bin/sh", "-c", script)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start systemd-nspawn: %v", err)
	}
	// stop lets the container finish and waits for nspawn, once; the output
	// buffers may only be read after it.
	var stopped bool
	var waitErr error
	stop := func() error {
		if !stopped {
			stopped = true
			_ = os.WriteFile(filepath.Join(root, "sync/done"), nil, 0o644)
			waitErr = cmd.Wait()
		}
		return waitErr
	}
	defer stop()

	var host ipLink
	deadline := time.Now().Add(10 * time.Second)
	for host.IfName == "" {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("no veth appeared in %s within 10 s; nspawn said: %s", ns, stderr.String())
		}
		out, err := exec.Command("ip", "-j", "-n", ns, "link", "show").Output()
		if err != nil {
			t.Fatalf("ip -n %s link show: %v", ns, err)
		}
		var links []ipLink
		if err := json.Unmarshal(out, &links); err != nil {
			t.Fatalf("parse ip -j output: %v", err)
		}
		for _, l := range links {
			if l.IfName != "lo" {
				host = l
			}
		}
		if host.IfName == "" {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("systemd-nspawn: %v; stderr: %s", err, stderr.String())
	}
	return host, strings.TrimSpace(stdout.String())
}
