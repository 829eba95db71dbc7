package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// The network scenarios of the networking guide (reference source 001):
// each network mode, on the systemd test host, with real traffic. One test
// host per test function, several machines on it.

var (
	ula      = netip.MustParsePrefix("fc00::/7")
	zonePool = networkd.DefaultZoneIPv4Pool
)

// createMachines writes config to /root/NAME.hcl and creates and starts
// each of names from it, giving each a page that names it.
func createMachines(t *testing.T, ctx context.Context, h *testhost.Host, file, config string, names ...string) {
	t.Helper()
	cfg := "/root/" + file + ".hcl"
	if err := h.WriteFile(ctx, cfg, config, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		timed(t, "create --start "+n, func() {
			mustNspawnctl(t, ctx, h, "create", "--config", cfg, n)
			// Before the start, so httpd serves it from the first request.
			if err := h.WriteFile(ctx, "/var/lib/machines/"+n+"/srv/www/index.html", page(n), 0o644); err != nil {
				t.Fatal(err)
			}
			mustNspawnctl(t, ctx, h, "start", n)
		})
	}
}

func page(name string) string { return "hello from machine " + name + "\n" }

// webRoot is the root block every scenario machine uses.
var webRoot = fmt.Sprintf("root {\n    tarball = %q\n  }", testhost.WebTarballPath)

// machineAddr waits for machine's address in p.
func machineAddr(t *testing.T, ctx context.Context, h *testhost.Host, machine string, p netip.Prefix) netip.Addr {
	t.Helper()
	a, err := h.WaitMachineAddr(ctx, machine, p, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// inMachine runs script in machine until it succeeds (bounded) and fails
// the test otherwise; it returns the output.
func inMachine(t *testing.T, ctx context.Context, h *testhost.Host, machine, what, script string) string {
	t.Helper()
	r, d, err := h.WaitInMachine(ctx, machine, script, 30*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s: ok after %s", what, d.Round(time.Millisecond))
	return r.Stdout
}

// fromClient runs a command in the client namespace until it succeeds
// (bounded) and fails the test otherwise. The client uses the machine's
// programs; ping is busybox's (busybox-static, from e2e/install-deps.sh),
// as in the test host, which has no iputils either.
func fromClient(t *testing.T, ctx context.Context, h *testhost.Host, what string, args ...string) string {
	t.Helper()
	out, d, err := h.WaitClient(ctx, 30*time.Second, args...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("%s: ok after %s", what, d.Round(time.Millisecond))
	return out
}

func url(a netip.Addr, port int) string {
	return "http://" + netip.AddrPortFrom(a, uint16(port)).String() + "/"
}

// wgetIn is a script fetching url inside a guest and checking the page.
// (Debian 12's busybox wget crashes with -T; the wait bounds it instead.)
func wgetIn(url, want string) string {
	return fmt.Sprintf(`out=$(busybox wget -O - %q 2>&1); echo "$out"; case "$out" in *%q*) ;; *) exit 1;; esac`, url, want)
}

// TestNetworkZone: two containers in a zone reach each other by address and
// by name (LLMNR, and mDNS for NAME.local, through systemd-resolved in the
// guests), a forward to a
// zone member works over IPv4 and IPv6 (its ULA address), and a machine in
// an undeclared zone is refused.
func TestNetworkZone(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	config := fmt.Sprintf(`zone "e2e" {
  mdns = true
}

machine "za" {
  %s
  network {
    zone = "e2e"
  }
  forward_port {
    host_port      = 8281
    container_port = 80
  }
}

machine "zb" {
  %s
  network {
    zone = "e2e"
  }
}
`, webRoot, webRoot)
	createMachines(t, ctx, h, "zone", config, "za", "zb")

	var b4, b6 netip.Addr
	timed(t, "addresses", func() {
		b4 = machineAddr(t, ctx, h, "zb", zonePool)
		b6 = machineAddr(t, ctx, h, "zb", ula)
		machineAddr(t, ctx, h, "za", ula)
	})
	t.Logf("zb has %s and %s", b4, b6)
	timed(t, "za -> zb by address", func() {
		inMachine(t, ctx, h, "za", "ping zb IPv4", "busybox ping -c 1 -W 2 "+b4.String())
		inMachine(t, ctx, h, "za", "ping zb IPv6", "busybox ping -c 1 -W 2 "+b6.String())
		inMachine(t, ctx, h, "za", "HTTP to zb IPv4", wgetIn(url(b4, 80), "machine zb"))
		inMachine(t, ctx, h, "za", "HTTP to zb IPv6", wgetIn(url(b6, 80), "machine zb"))
	})
	timed(t, "za -> zb by name (LLMNR)", func() {
		out := inMachine(t, ctx, h, "za", "resolvectl query zb", "resolvectl query --legend=yes zb")
		if !strings.Contains(out, "LLMNR") {
			t.Errorf("resolvectl query zb did not answer through LLMNR:\n%s", out)
		}
		out = inMachine(t, ctx, h, "za", "resolvectl query zb.local", "resolvectl query --legend=yes zb.local")
		if !strings.Contains(out, "mDNS") {
			t.Errorf("resolvectl query zb.local did not answer through mDNS:\n%s", out)
		}
		inMachine(t, ctx, h, "za", "ping zb by name", "busybox ping -c 1 -W 2 zb")
		inMachine(t, ctx, h, "za", "HTTP to zb by name", wgetIn("http://zb/", "machine zb"))
		inMachine(t, ctx, h, "zb", "HTTP to za by name", wgetIn("http://za/", "machine za"))
	})
	timed(t, "forward to a zone member", func() {
		for _, u := range []string{clientURL(testhost.HostIPv4, 8281), clientURL(testhost.HostIPv6, 8281)} {
			if _, _, err := testhost.WaitGet(ctx, h.ClientGet, u, "machine za", 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	})
	timed(t, "undeclared zone refused", func() {
		cfg := "/root/nozone.hcl"
		if err := h.WriteFile(ctx, cfg, fmt.Sprintf("machine \"zc\" {\n  %s\n  network {\n    zone = \"nosuch\"\n  }\n}\n", webRoot), 0o644); err != nil {
			t.Fatal(err)
		}
		r := h.Nspawnctl(ctx, "create", "--config", cfg)
		if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, `Zone "nosuch" is not declared`) {
			t.Errorf("create in an undeclared zone: want a refusal naming the zone, got %s", r)
		}
	})
}

func clientURL(host string, port int) string {
	return url(netip.MustParseAddr(host), port)
}

// TestNetworkBridge: a bridge nspawnctl declares (networkd creates it from
// the .netdev) with two containers that reach each other and the host, and a
// machine on a bridge that does not exist, whose start fails with the
// promised message.
func TestNetworkBridge(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	config := fmt.Sprintf(`bridge "br-e2e" {
  address = ["198.51.100.1/24", "fd00:e2e::1/64"]
}

machine "ba" {
  %s
  network {
    bridge = "br-e2e"
  }
  forward_port {
    host_port      = 8481
    container_port = 80
  }
}

machine "bb" {
  %s
  network {
    bridge = "br-e2e"
  }
}

machine "bmiss" {
  %s
  network {
    bridge = "br-missing"
  }
}
`, webRoot, webRoot, webRoot)
	createMachines(t, ctx, h, "bridge", config, "ba", "bb")
	bridgeNet := netip.MustParsePrefix("198.51.100.0/24")
	var a4, b4, b6 netip.Addr
	timed(t, "addresses", func() {
		a4 = machineAddr(t, ctx, h, "ba", bridgeNet)
		b4 = machineAddr(t, ctx, h, "bb", bridgeNet)
		b6 = machineAddr(t, ctx, h, "bb", netip.MustParsePrefix("fd00:e2e::/64"))
	})
	timed(t, "ba -> bb", func() {
		inMachine(t, ctx, h, "ba", "ping bb IPv4", "busybox ping -c 1 -W 2 "+b4.String())
		inMachine(t, ctx, h, "ba", "ping bb IPv6", "busybox ping -c 1 -W 2 "+b6.String())
		inMachine(t, ctx, h, "ba", "HTTP to bb", wgetIn(url(b4, 80), "machine bb"))
		inMachine(t, ctx, h, "ba", "HTTP to bb by name (LLMNR)", wgetIn("http://bb/", "machine bb"))
	})
	timed(t, "host -> members", func() {
		for _, a := range []netip.Addr{a4, b4} {
			if _, _, err := h.Exec(ctx, "busybox", "ping", "-c", "1", "-W", "2", a.String()); err != nil {
				t.Errorf("the host cannot reach bridge member %s: %v", a, err)
			}
		}
		if out, _, err := h.Exec(ctx, "ip", "-o", "link", "show", "master", "br-e2e"); err != nil || !strings.Contains(out, "vb-ba") || !strings.Contains(out, "vb-bb") {
			t.Errorf("br-e2e ports: %q (%v); want vb-ba and vb-bb", out, err)
		}
	})
	timed(t, "forward to a bridge member", func() {
		for _, u := range []string{clientURL(testhost.HostIPv4, 8481), clientURL(testhost.HostIPv6, 8481)} {
			if _, _, err := testhost.WaitGet(ctx, h.ClientGet, u, "machine ba", 30*time.Second); err != nil {
				t.Error(err)
			}
		}
	})
	timed(t, "missing bridge", func() {
		cfg := "/root/bridge.hcl"
		r := h.Nspawnctl(ctx, "create", "--config", cfg, "bmiss")
		if r.Code != 0 || !strings.Contains(r.Stdout+r.Stderr, "Bridge not declared here") {
			t.Fatalf("create on an undeclared bridge: want success with a warning, got %s", r)
		}
		r = h.Nspawnctl(ctx, "start", "bmiss")
		want := "machine bmiss cannot start: bridge br-missing does not exist on this host"
		if r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Errorf("start on a missing bridge: want failure with %q, got %s", want, r)
		}
		if st, _ := h.WaitUnitState(ctx, "systemd-nspawn@bmiss.service", 5*time.Second, "inactive", "failed"); st == "active" {
			t.Errorf("bmiss runs although its bridge is missing")
		}
	})
}

// TestNetworkMacvlan: containers on the client's LAN through a macvlan on
// the test host's uplink (one static, one configured by a DHCP server in the
// client namespace), a host-network container and one without network.
func TestNetworkMacvlan(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	stopDHCP := clientDHCPServer(t, h)
	defer stopDHCP()
	config := fmt.Sprintf(`machine "mvs" {
  %s
  network {
    macvlan = ["uplink0"]
    container {
      address = ["203.0.113.50/24", "2001:db8:113::50/64"]
    }
  }
}

machine "mvd" {
  %s
  network {
    macvlan = ["uplink0"]
    container {
      dhcp = "ipv4"
    }
  }
}

machine "hostnet" {
  %s
  network {
    mode = "host"
  }
}

machine "nonet" {
  %s
  network {
    mode = "none"
  }
}
`, webRoot, webRoot, webRoot, webRoot)
	createMachines(t, ctx, h, "macvlan", config, "mvs", "mvd", "hostnet", "nonet")
	timed(t, "client -> static macvlan", func() {
		machineAddr(t, ctx, h, "mvs", netip.MustParsePrefix("203.0.113.50/32"))
		fromClient(t, ctx, h, "client ping 203.0.113.50", "busybox", "ping", "-c", "1", "-W", "2", "203.0.113.50")
		fromClient(t, ctx, h, "client HTTP IPv4", "curl", "-sS", "--fail", "--max-time", "3", "http://203.0.113.50/")
		fromClient(t, ctx, h, "client HTTP IPv6", "curl", "-sS", "-g", "--fail", "--max-time", "3", "http://[2001:db8:113::50]/")
	})
	timed(t, "client -> DHCP macvlan", func() {
		a := machineAddr(t, ctx, h, "mvd", netip.MustParsePrefix("203.0.113.0/24"))
		t.Logf("mvd got %s from the client's DHCP server", a)
		out := fromClient(t, ctx, h, "client HTTP to mvd", "curl", "-sS", "--fail", "--max-time", "3", url(a, 80))
		if !strings.Contains(out, "machine mvd") {
			t.Errorf("GET %s = %q, want mvd's page", url(a, 80), out)
		}
	})
	timed(t, "host network", func() {
		if err := h.WaitMachineBooted(ctx, "hostnet", 60*time.Second); err != nil {
			t.Fatal(err)
		}
		out := inMachine(t, ctx, h, "hostnet", "links of hostnet", "ip -o link")
		if !strings.Contains(out, testhost.HostUplink) {
			t.Errorf("hostnet does not share the host's network: its links are\n%s", out)
		}
		// Its httpd listens on the host's own port 80.
		if _, _, err := testhost.WaitGet(ctx, h.ClientGet, clientURL(testhost.HostIPv4, 80), "machine hostnet", 30*time.Second); err != nil {
			t.Error(err)
		}
	})
	timed(t, "no network", func() {
		if err := h.WaitMachineBooted(ctx, "nonet", 60*time.Second); err != nil {
			t.Fatal(err)
		}
		out := inMachine(t, ctx, h, "nonet", "links of nonet", "ip -o link")
		if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 1 || !strings.Contains(out, " lo:") {
			t.Errorf("nonet should have loopback only, has\n%s", out)
		}
	})
}

// clientDHCPServer runs busybox udhcpd on the client's LAN (lan0) handing
// out 203.0.113.100-110, and returns how to stop it. It is a process of this
// test, stopped by its PID.
func clientDHCPServer(t *testing.T, h *testhost.Host) func() {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "udhcpd.conf")
	leases := filepath.Join(dir, "leases")
	if err := os.WriteFile(leases, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	content := fmt.Sprintf("start 203.0.113.100\nend 203.0.113.110\ninterface %s\nlease_file %s\npidfile %s\noption subnet 255.255.255.0\noption lease 600\n",
		testhost.ClientLink, leases, filepath.Join(dir, "pid"))
	if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skipf("no busybox for the client's DHCP server: %v (e2e/install-deps.sh installs busybox-static)", err)
	}
	cmd := exec.Command("nsenter", "--net="+h.ClientNetns(), "--", bb, "udhcpd", "-f", conf)
	log, _ := os.Create(filepath.Join(dir, "udhcpd.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start udhcpd in the client namespace: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("udhcpd log:\n%s", b)
		}
		log.Close()
	}
	t.Cleanup(stop)
	return stop
}

// routedBothWays checks a machine's routed global address a (its /64
// routed to the test host by the client): the client pings it and gets its
// page, and the machine pings the client, not masqueraded (the client's
// own address answers it).
func routedBothWays(t *testing.T, ctx context.Context, h *testhost.Host, machine string, a netip.Prefix) {
	t.Helper()
	addr := a.Addr().String()
	machineAddr(t, ctx, h, machine, netip.PrefixFrom(a.Addr(), 128))
	if _, _, err := h.ClientExec(ctx, "ip", "-6", "route", "replace", a.Masked().String(), "via", testhost.HostIPv6, "dev", testhost.ClientLink); err != nil {
		t.Fatal(err)
	}
	fromClient(t, ctx, h, "client ping "+addr, "busybox", "ping", "-c", "1", "-W", "2", addr)
	out := fromClient(t, ctx, h, "client HTTP to "+addr, "curl", "-sS", "-g", "--fail", "--max-time", "3", "http://["+addr+"]/")
	if !strings.Contains(out, "machine "+machine) {
		t.Errorf("GET http://[%s]/ = %q", addr, out)
	}
	inMachine(t, ctx, h, machine, machine+" -> client", "busybox ping -c 1 -W 2 "+testhost.ClientIPv6)
}

// TestNetworkIPv6: a routed global prefix on a container link, reachable
// from the client over a route; a ULA container reaching the host and,
// masqueraded, the client; a container answered for by proxy NDP on the
// uplink; and an IPv6 port forward to each.
func TestNetworkIPv6(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	config := fmt.Sprintf(`machine "g6" {
  %s
  network {
    host {
      ipv6_prefix {
        prefix = "2001:db8:7::/64"
        assign = true
      }
      masquerade = "ipv4"
    }
    container {
      address = ["2001:db8:7::2/64"]
    }
  }
  forward_port {
    host_port      = 8381
    container_port = 80
  }
}

machine "u6" {
  %s
  forward_port {
    host_port      = 8382
    container_port = 80
  }
}

machine "p6" {
  %s
  network {
    host {
      masquerade = "ipv4"
      proxy_ndp  = ["uplink0"]
    }
    container {
      address = ["2001:db8:113::100/128"]
    }
  }
  forward_port {
    host_port      = 8383
    container_port = 80
  }
}
`, webRoot, webRoot, webRoot)
	createMachines(t, ctx, h, "ipv6", config, "g6", "u6", "p6")

	timed(t, "global prefix, routed", func() {
		routedBothWays(t, ctx, h, "g6", netip.MustParsePrefix("2001:db8:7::2/64"))
	})
	timed(t, "ULA, masqueraded", func() {
		a := machineAddr(t, ctx, h, "u6", ula)
		gw := netip.PrefixFrom(a, 64).Masked().Addr().Next()
		inMachine(t, ctx, h, "u6", "u6 -> host side "+gw.String(), "busybox ping -c 1 -W 2 "+gw.String())
		inMachine(t, ctx, h, "u6", "u6 -> host uplink", "busybox ping -c 1 -W 2 "+testhost.HostIPv6)
		// The client has no route to the ULA /64: an answer proves masquerading.
		inMachine(t, ctx, h, "u6", "u6 -> client (masqueraded)", "busybox ping -c 1 -W 2 "+testhost.ClientIPv6)
	})
	timed(t, "proxy NDP", func() {
		machineAddr(t, ctx, h, "p6", netip.MustParsePrefix("2001:db8:113::100/128"))
		drop, _, err := h.Exec(ctx, "cat", "/etc/systemd/network/10-e2e-uplink.network.d/nspawnctl-p6.conf")
		if err != nil || !strings.Contains(drop, "IPv6ProxyNDPAddress=2001:db8:113::100") {
			t.Fatalf("proxy NDP drop-in for the uplink's .network file: %q (%v)", drop, err)
		}
		// 2001:db8:113::100 is on the client's link as far as the client
		// knows; the test host answers its neighbour solicitations.
		fromClient(t, ctx, h, "client ping 2001:db8:113::100", "busybox", "ping", "-c", "1", "-W", "2", "2001:db8:113::100")
		out := fromClient(t, ctx, h, "client HTTP to 2001:db8:113::100", "curl", "-sS", "-g", "--fail", "--max-time", "3", "http://[2001:db8:113::100]/")
		if !strings.Contains(out, "machine p6") {
			t.Errorf("GET http://[2001:db8:113::100]/ = %q", out)
		}
	})
	timed(t, "IPv6 forwards", func() {
		for port, want := range map[int]string{8381: "machine g6", 8382: "machine u6", 8383: "machine p6"} {
			if _, _, err := testhost.WaitGet(ctx, h.ClientGet, clientURL(testhost.HostIPv6, port), want, 30*time.Second); err != nil {
				t.Error(err)
			}
		}
	})
	timed(t, "remove p6 drops its drop-in", func() {
		mustNspawnctl(t, ctx, h, "remove", "p6")
		if _, _, err := h.Exec(ctx, "test", "!", "-e", "/etc/systemd/network/10-e2e-uplink.network.d/nspawnctl-p6.conf"); err != nil {
			t.Errorf("remove p6 left its proxy NDP drop-in behind")
		}
	})
}
