package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

// The fleet of examples/fleet, as TestNebulaMultiHost deploys it: which host
// runs which machine, and the overlay address its file gives it.
var fleet = []fleetMachine{
	{"lighthouse", 1, "198.51.100.1", "infra", 4242},
	{"app-1", 1, "198.51.100.11", "client", 4243},
	{"app-2", 2, "198.51.100.12", "client", 4243},
	{"web-2", 2, "198.51.100.22", "web", 4244},
	{"web-3", 3, "198.51.100.23", "web", 4243},
}

// fleetMachine is one machine of the fleet.
type fleetMachine struct {
	name    string
	host    int // 1-based, as in examples/fleet/hostN.hcl
	overlay string
	group   string
	port    int // listen_port, forwarded by its host
}

// fleetFirewall is host 3's nftables.conf: a stateful input firewall that
// drops what nobody asked for (DHCP from the containers excepted), as a
// careful admin writes it. "systemctl restart nftables" loads it, which
// flushes the whole ruleset, io.systemd.nat included.
const fleetFirewall = `#!/usr/sbin/nft -f
flush ruleset
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
    meta l4proto { icmp, ipv6-icmp } accept
    iifname "ve-*" udp dport 67 accept
  }
}
`

// fleetTunUnit does at every boot of a test host what udev's rule for
// /dev/net/tun does on a real host: the test hosts have no udev, and their
// /dev is new at every boot.
const (
	fleetTunUnit = "e2e-tun-mode.service"
	fleetTunMode = `[Unit]
Description=/dev/net/tun mode 0666, as udev sets it (the e2e test host has no udev)
DefaultDependencies=no
Before=machines.target sysinit.target

[Service]
Type=oneshot
ExecStart=/bin/chmod 0666 /dev/net/tun

[Install]
WantedBy=sysinit.target
`
)

// TestNebulaMultiHost deploys examples/fleet as is on three test hosts joined
// through a routed "internet" (each host its own uplink, subnet and address;
// no NAT between them; the containers NATed behind their host): a lighthouse
// (also a relay) with a member beside it on host 1, two members on host 2,
// one on host 3 behind a stateful input firewall. Certificates come from one
// CA made on host 1 and carried to the others. It asserts with traffic that
// every pair of machines pings over the overlay both ways, that TCP 80 is
// let in from group client only, and that the overlay recovers without
// manual steps from a machine restart, an nftables restart (with the
// firewall), a networkd restart, a host's power cycle, and a blocked direct
// path (through the relay).
func TestNebulaMultiHost(t *testing.T) {
	testhost.SkipUnlessEnabled(t)
	bin := testhost.NspawnctlBinary(t)
	t0 := time.Now()
	topo := testhost.StartTopology(t, 3)
	ctx := testhost.Context(t)
	hosts := topo.Hosts
	if err := topo.WatchPrivate(); err != nil {
		t.Fatal(err)
	}
	for i, h := range hosts {
		setupNspawnctl(t, ctx, h, bin)
		if err := h.PrepareWebTarball(ctx); err != nil {
			t.Fatal(err)
		}
		// The fleet's root image, and /dev/net/tun as udev leaves it
		// (KERNEL=="tun", MODE="0666") at every boot: the test hosts have
		// no udev.
		mustRun(t, ctx, h, "sh", "-c", "mkdir -p /srv/images && mv "+testhost.WebTarballPath+" /srv/images/web.tar")
		if err := h.WriteFile(ctx, "/etc/systemd/system/"+fleetTunUnit, fleetTunMode, 0o644); err != nil {
			t.Fatal(err)
		}
		mustRun(t, ctx, h, "systemctl", "enable", "--now", fleetTunUnit)
		if i == 2 {
			if err := h.WriteFile(ctx, "/etc/nftables.conf", fleetFirewall, 0o755); err != nil {
				t.Fatal(err)
			}
			mustRun(t, ctx, h, "systemctl", "enable", "--now", "nftables.service")
		}
	}
	phase(t, "3 hosts: boot+install+tarball", t0)

	t0 = time.Now()
	// One CA, made on host 1; its key is carried to the other hosts (as
	// docs/nebula-fleet.md tells users: scp -p over SSH, 0600, root's).
	mustNspawnctl(t, ctx, hosts[0], "nebula", "ca", "init", "--name", "fleet", "--out", testhost.NebulaCADir)
	for _, f := range []string{"ca.crt", "ca.key"} {
		content := mustRun(t, ctx, hosts[0], "cat", testhost.NebulaCADir+"/"+f)
		for _, h := range hosts[1:] {
			mustRun(t, ctx, h, "install", "-d", "-m", "0700", testhost.NebulaCADir)
			if err := h.WriteFile(ctx, testhost.NebulaCADir+"/"+f, content, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	phase(t, "CA on host 1, carried to 2 and 3", t0)

	t0 = time.Now()
	for i, h := range hosts {
		src := filepath.Join("..", "examples", "fleet", fmt.Sprintf("host%d.hcl", i+1))
		dst := fmt.Sprintf("/etc/nspawnctl/fleet/host%d.hcl", i+1)
		if err := h.CopyIn(ctx, src, dst); err != nil {
			t.Fatal(err)
		}
		plan := mustNspawnctl(t, ctx, h, "plan", dst)
		// The automatic forward of each sidecar's listen port is in the plan.
		if !strings.Contains(plan.Stdout, "udp") {
			t.Errorf("host %d: plan shows no UDP forward for the sidecars' listen ports:\n%s", i+1, plan.Stdout)
		}
		mustNspawnctl(t, ctx, h, "apply", dst)
	}
	started := time.Now()
	phase(t, "apply on 3 hosts", t0)

	t0 = time.Now()
	for _, m := range fleet {
		h := hosts[m.host-1]
		for _, u := range nebUnits(m.name) {
			if s, err := h.WaitUnitState(ctx, u, 90*time.Second, "active"); err != nil {
				t.Fatalf("host %d: %v (state %s)\n%s", m.host, err, s, nebJournals(h, m.name))
			}
		}
		st := nebGetStatus(t, ctx, h, m.name)
		if a, _, _ := strings.Cut(st.Address, "/"); a != m.overlay {
			t.Errorf("%s on host %d carries overlay address %s, not %s from examples/fleet", m.name, m.host, st.Address, m.overlay)
		}
	}
	phase(t, "sidecars active", t0)

	t0 = time.Now()
	// The first answer across hosts, between two members that are neither
	// the lighthouse nor beside it.
	d, err := fleetPing(ctx, topo, fleetByName("app-2"), fleetByName("web-3"), 90*time.Second)
	if err != nil {
		t.Fatalf("app-2 (host 2) -> web-3 (host 3): %v\n%s", err, fleetJournals(topo))
	}
	t.Logf("first cross-host answer (app-2 -> web-3): %s after the last apply, %s after the sidecars were active", time.Since(started).Round(time.Millisecond), d.Round(time.Millisecond))
	reached, pairs := 0, 0
	for _, a := range fleet {
		for _, b := range fleet {
			if a.name == b.name {
				continue
			}
			pairs++
			d, err := fleetPing(ctx, topo, a, b, 90*time.Second)
			if err != nil {
				t.Errorf("%s (host %d) -> %s (host %d) %s: %v", a.name, a.host, b.name, b.host, b.overlay, err)
				continue
			}
			reached++
			t.Logf("%s (host %d) -> %s (host %d): answered after %s", a.name, a.host, b.name, b.host, d.Round(time.Millisecond))
		}
	}
	t.Logf("overlay: %d of %d ordered pairs answer", reached, pairs)
	if reached != pairs {
		t.Fatalf("only %d of %d ordered pairs reach each other over the overlay\n%s", reached, pairs, fleetJournals(topo))
	}
	phase(t, "every pair pings both ways", t0)

	// Every machine was reached from another host directly at its host's
	// address and its forwarded listen port, the address it advertises
	// (nebula logs the peer's underlay address of each handshake).
	for _, m := range fleet {
		want := fmt.Sprintf("%s:%d", hosts[m.host-1].UplinkIPv4(), m.port)
		found := false
		for _, o := range fleet {
			if o.host == m.host {
				continue
			}
			for _, l := range strings.Split(hosts[o.host-1].Journal(nebula.SidecarInstance(o.name)), "\n") {
				found = found || handshakeWith(l, m.name, want)
			}
		}
		if !found {
			t.Errorf("no sidecar on another host logged a handshake with %s at %s, its host's forwarded port\n%s", m.name, want, fleetJournals(topo))
		}
	}

	// app-1, beside the lighthouse, reaches it through host 1's own forward;
	// the lighthouse sees it at host 1's address (nspawnctl_forward_snat),
	// not at the internal ve-lighthouse address, so that is what its host
	// map holds and hands on to the other hosts.
	lhSees := fmt.Sprintf("%s:%d", hosts[0].UplinkIPv4(), fleetByName("app-1").port)
	if j := hosts[0].Journal(nebula.SidecarInstance("lighthouse")); !slices.ContainsFunc(strings.Split(j, "\n"), func(l string) bool { return handshakeWith(l, "app-1", lhSees) }) {
		t.Errorf("the lighthouse never logged app-1 at %s, its host's address\n%s", lhSees, j)
	}

	// No host sent anything to a container on another host: with
	// advertise_addrs the members keep their own addresses out of what the
	// lighthouse hands out (lighthouse.local_allow_list). The router sees
	// every packet that leaves a host.
	flows, err := topo.PrivateFlows()
	if err != nil {
		t.Fatal(err)
	}
	type where struct {
		machine string
		host    int
	}
	owner := map[netip.Addr]where{}
	for _, m := range fleet {
		addrs, err := hosts[m.host-1].MachineAddresses(ctx, m.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			owner[a] = where{m.name, m.host}
		}
	}
	for _, f := range flows {
		o, ok := owner[f.Dst]
		switch {
		case !ok:
			t.Logf("the router saw %s -> %s (a private address, not a container's)", f.Src, f.Dst)
		case hosts[o.host-1].UplinkIPv4() == f.Src:
			// The host's own DNAT to its container, routed out before the
			// container's link was up: nspawnctl_forward drops those
			// (nat.CommentLinkDown).
			t.Errorf("host %d sent a packet for its own container %s (%s) out of its uplink (a forward used before the container's link was up)", o.host, o.machine, f.Dst)
		default:
			t.Errorf("%s sent packets to %s, the address of container %s on host %d, which no other host can reach", f.Src, f.Dst, o.machine, o.host)
		}
	}
	t.Logf("private flows seen by the router: %d %v; container addresses known: %d", len(flows), flows, len(owner))

	t0 = time.Now()
	checks := 0
	for _, c := range []struct {
		from, to string
		allow    bool
	}{
		{"app-1", "web-3", true}, {"app-2", "web-3", true}, {"app-1", "web-2", true}, {"app-2", "app-1", true},
		{"web-3", "app-1", false}, {"web-3", "web-2", false}, {"web-2", "app-1", false}, {"lighthouse", "web-3", false},
	} {
		a, b := fleetByName(c.from), fleetByName(c.to)
		body, err := hosts[a.host-1].TCPGet(ctx, a.name, b.overlay, nebWebPort, 5)
		got := err == nil && strings.Contains(body, "hello from")
		if got != c.allow {
			t.Errorf("TCP %d from %s (group %s, host %d) to %s (host %d): reached %t, want %t (inbound tcp/80 admits group client only): %v",
				nebWebPort, a.name, a.group, a.host, b.name, b.host, got, c.allow, err)
		}
		checks++
	}
	t.Logf("overlay firewall: %d cross-host TCP checks", checks)
	phase(t, "firewall across hosts", t0)

	web3, app1, app2, web2 := fleetByName("web-3"), fleetByName("app-1"), fleetByName("app-2"), fleetByName("web-2")
	// recover applies a fault and waits for the probes to answer; the
	// recovery time is from the fault's end (the host booted, the unit
	// restarted) to the last probe's answer, and must stay within 30 s.
	recover := func(name string, fault func(), probes ...[2]fleetMachine) {
		t.Helper()
		t0 := time.Now()
		fault()
		end := time.Now()
		for _, p := range probes {
			d, err := fleetPing(ctx, topo, p[0], p[1], 90*time.Second)
			if err != nil {
				t.Fatalf("after %s: %s -> %s: %v\n%s", name, p[0].name, p[1].name, err, fleetJournals(topo))
			}
			t.Logf("after %s: %s -> %s answered %s after the fault's end", name, p[0].name, p[1].name, d.Round(time.Millisecond))
		}
		r := time.Since(end)
		t.Logf("recovery %-40s %s after the fault (fault itself %s)", name, r.Round(time.Millisecond), end.Sub(t0).Round(time.Millisecond))
		if r > 30*time.Second {
			t.Errorf("recovery from %s took %s, more than 30 s", name, r.Round(time.Millisecond))
		}
	}

	recover("machine restart (web-3)", func() {
		mustNspawnctl(t, ctx, hosts[2], "stop", "web-3")
		mustNspawnctl(t, ctx, hosts[2], "start", "web-3")
	}, [2]fleetMachine{app1, web3}, [2]fleetMachine{web3, app2})

	recover("nftables restart (host 3, firewall)", func() {
		mustRun(t, ctx, hosts[2], "systemctl", "restart", "nftables.service")
	}, [2]fleetMachine{app1, web3}, [2]fleetMachine{web3, web2})
	// The overlay may survive on conntrack entries alone; the forward itself
	// must be back too, for peers that come later.
	if err := fleetWaitRuleset(ctx, hosts[2], "udp . 4243", 60*time.Second); err != nil {
		t.Errorf("host 3 after systemctl restart nftables: %v", err)
	}

	// Host 2 has no input firewall: nftables.service's stock configuration
	// flushes the ruleset too, and the automatic forwards come back.
	recover("nftables restart (host 2, no firewall)", func() {
		mustRun(t, ctx, hosts[1], "systemctl", "restart", "nftables.service")
	}, [2]fleetMachine{web3, app2}, [2]fleetMachine{app1, web2})
	if err := fleetWaitRuleset(ctx, hosts[1], "udp . 4243", 60*time.Second); err != nil {
		t.Errorf("host 2 after systemctl restart nftables: %v", err)
	}

	recover("networkd restart (host 2)", func() {
		mustRun(t, ctx, hosts[1], "systemctl", "restart", "systemd-networkd.service")
	}, [2]fleetMachine{web3, app2}, [2]fleetMachine{app2, app1})

	since := strings.TrimSpace(mustRun(t, ctx, hosts[0], "date", "+%s"))
	recover("direct path host 2 <-> 3 blocked (relay)", func() {
		if err := topo.BlockUDP(2, 3); err != nil {
			t.Fatal(err)
		}
		// New tunnels only: the sidecar's restart drops web-3's.
		mustRun(t, ctx, hosts[2], "systemctl", "restart", nebula.SidecarInstance("web-3"))
	}, [2]fleetMachine{web3, app2}, [2]fleetMachine{web2, web3})
	// The lighthouse relayed between web-3 and host 2's members since the block.
	lh := mustRun(t, ctx, hosts[0], "journalctl", "--no-pager", "-o", "cat", "--since", "@"+since, "-u", nebula.SidecarInstance("lighthouse"))
	if !strings.Contains(lh, "relayFrom="+web3.overlay) && !strings.Contains(lh, "relayTarget="+web3.overlay) {
		t.Errorf("web-3 reached host 2 with the direct path blocked, but the lighthouse relayed nothing for it since:\n%s", lh)
	}
	if err := topo.UnblockUDP(); err != nil {
		t.Fatal(err)
	}

	recover("power cycle (host 2)", func() {
		d, err := hosts[1].PowerCycle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("host 2 down and booted again in %s", d.Round(time.Millisecond))
	}, [2]fleetMachine{app1, app2}, [2]fleetMachine{web3, web2}, [2]fleetMachine{app2, web3})
}

// handshakeWith reports whether journal line l is nebula's log of a
// handshake with peer at underlay address addr (IP:PORT). Nebula up to 1.9
// logs it with logrus as udpAddr="IP:PORT"; 1.10 and later with slog as
// from=IP:PORT.
func handshakeWith(l, peer, addr string) bool {
	return strings.Contains(l, "certName="+peer+" ") &&
		(strings.Contains(l, fmt.Sprintf("udpAddr=%q", addr)) || strings.Contains(l, "from="+addr+" "))
}

// fleetByName returns the fleet machine called name.
func fleetByName(name string) fleetMachine {
	for _, m := range fleet {
		if m.name == name {
			return m
		}
	}
	panic("no fleet machine " + name)
}

// fleetPing pings b's overlay address from inside a until it answers.
func fleetPing(ctx context.Context, topo *testhost.Topology, a, b fleetMachine, timeout time.Duration) (time.Duration, error) {
	return topo.Hosts[a.host-1].WaitPing(ctx, a.name, b.overlay, timeout)
}

// fleetJournals returns every sidecar's journal, for a failure.
func fleetJournals(topo *testhost.Topology) string {
	var b strings.Builder
	for _, m := range fleet {
		h := topo.Hosts[m.host-1]
		u := nebula.SidecarInstance(m.name)
		fmt.Fprintf(&b, "### host %d: journal of %s\n%s", m.host, u, h.Journal(u))
	}
	return b.String()
}

// fleetWaitRuleset waits until a line of the host's nspawnctl-owned ruleset
// (testhost.NftOwn) contains want.
func fleetWaitRuleset(ctx context.Context, h *testhost.Host, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var own []string
	for time.Now().Before(deadline) {
		own, _ = h.NftOwn(ctx)
		for _, l := range own {
			if strings.Contains(l, want) {
				return nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("no %q in its ruleset after %s:\n%s", want, timeout, strings.Join(own, "\n"))
}
