package nat

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// Forwards used across the host's own links, as a Nebula sidecar uses its
// lighthouse's forward when both run on one host (issue 14), and forwards
// used before their target's link is up.

// neighbour adds a second machine "db" (10.0.0.18 on ve-db, masqueraded by
// networkd's masq_saddr as well as nspawnctl_masq, as on a real host) and
// returns its namespace.
func neighbour(t *testing.T, tp *topology, a *Applier) Machine {
	t.Helper()
	db := newNS(t)
	shIn(t, tp.host, fmt.Sprintf("ip link add ve-db type veth peer name host0 netns /proc/%d/fd/%d && ip addr add 10.0.0.17/28 dev ve-db && ip link set ve-db up", os.Getpid(), int(db)))
	shIn(t, db, "ip link set lo up && ip link set host0 up && ip addr add 10.0.0.18/28 dev host0 && ip route add default via 10.0.0.17")
	tp.client = db // probes "from client" come from db
	return Machine{Name: "db", Link: "ve-db", Addrs: []netip.Addr{a4("10.0.0.18")}, Masquerade: []netip.Prefix{pfx("10.0.0.16/28")}}
}

// TestForwardFromNeighbour: a machine that uses the forward of another
// machine on the same host, at the host's outside address, reaches it from
// that address, not from the target link's address (10.0.0.1), which would
// mean nothing to a peer on another host that is told about it. networkd's
// masq_saddr holds db's prefix and its chain was there first, so without
// nspawnctl_forward_snat (priority srcnat) db's connection is masqueraded
// to 10.0.0.1.
func TestForwardFromNeighbour(t *testing.T) {
	tp, a := startTraffic(t)
	dbm := neighbour(t, tp, a)
	if err := a.Apply([]Machine{protectedWeb, dbm}); err != nil {
		t.Fatal(err)
	}
	nftIn(t, tp.host, "", "add", "element", "ip", TableName, "masq_saddr", "{ 10.0.0.16/28 }")
	probes := []probe{
		{"db to web's tcp forward at the host's address", "client", "", "tcp", "203.0.113.2:8080", "80 203.0.113.2"},
		{"db to web's tcp forward at another host address", "client", "", "tcp", "203.0.113.3:8080", "80 203.0.113.3"},
		{"db to web's udp forward (a lighthouse's port)", "client", "", "udp", "203.0.113.2:5353", "53 203.0.113.2"},
		{"db to web's forward at ve-db's address", "client", "", "tcp", "10.0.0.17:8080", "80 10.0.0.17"},
		{"web to its own forward (hairpin)", "ctr", "", "udp", "203.0.113.2:5353", "53 203.0.113.2"},
	}
	runProbes(t, tp, probes)
	// What is not a forward is masqueraded as before (outbound NAT of db's
	// network, through ve-web).
	runProbes(t, tp, []probe{{"db to web directly (not a forward)", "client", "", "tcp", "10.0.0.2:80", "80 10.0.0.1"}})
	if out := nftIn(t, tp.host, "", "list", "chain", "ip", TableName, chainForwardSNAT); !strings.Contains(out, "snat to ct original ip daddr") {
		t.Fatalf("no SNAT to the forward's address:\n%s", out)
	}
	// The old behaviour, to show the test can fail: without the chain the
	// neighbour arrives from ve-web's address.
	nftIn(t, tp.host, "", "flush", "chain", "ip", TableName, chainForwardSNAT)
	if got, err := exchange(tp.client, "udp", netip.Addr{}, netip.MustParseAddrPort("203.0.113.3:5353")); err != nil || got != "53 10.0.0.1" {
		t.Errorf("without %s: db's datagram arrived as %q (%v), want from 10.0.0.1 (networkd's masquerade); the test no longer shows the problem", chainForwardSNAT, got, err)
	}
}

// TestNoLeakBeforeLink sends to a forward whose target's link is down (a
// container that is starting, or whose link networkd is reconfiguring):
// the DNATed packet has only the default route, out of the uplink with the
// machine's private address as its destination. The sender's side (here
// the uplink's next hop, "client") must see nothing of it; once the link is
// up, the forward answers.
func TestNoLeakBeforeLink(t *testing.T) {
	tp, a := startTraffic(t)
	shIn(t, tp.host, "ip route add default via 203.0.113.10")
	// The next hop counts what it receives for the machines' network.
	nftIn(t, tp.client, `table ip leak {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		ip daddr 10.0.0.0/24 counter
	}
}
`, "-f", "-")
	leaked := func() bool {
		return !strings.Contains(nftIn(t, tp.client, "", "list", "table", "ip", "leak"), "counter packets 0 ")
	}
	if err := a.Apply([]Machine{protectedWeb}); err != nil {
		t.Fatal(err)
	}
	shIn(t, tp.host, "ip link set ve-web down")
	for _, p := range []string{"udp", "tcp"} {
		dst := map[string]string{"udp": "203.0.113.2:5353", "tcp": "203.0.113.2:8080"}[p]
		if got, err := exchange(tp.client, p, netip.Addr{}, netip.MustParseAddrPort(dst)); err == nil {
			t.Errorf("%s %s answered %q with the target's link down", p, dst, got)
		}
	}
	if leaked() {
		t.Errorf("forwarded packets left the host towards 10.0.0.2 with ve-web down:\n%s", nftIn(t, tp.client, "", "list", "table", "ip", "leak"))
	}
	c, err := a.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Dropped(CommentLinkDown).Packets == 0 {
		t.Errorf("the link-down drop counted nothing: %+v", c.Dropped(CommentLinkDown))
	}
	shIn(t, tp.host, "ip link set ve-web up")
	runProbes(t, tp, []probe{{"udp forward, link up again", "client", "", "udp", "203.0.113.2:5353", "53 203.0.113.10"}})
	// Without the drop the packet leaks: the test can fail.
	shIn(t, tp.host, "ip link set ve-web down")
	out := nftIn(t, tp.host, "", "-a", "list", "chain", "ip", TableName, chainForward)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, CommentLinkDown) {
			h := l[strings.LastIndex(l, "handle ")+len("handle "):]
			nftIn(t, tp.host, "", "delete", "rule", "ip", TableName, chainForward, "handle", strings.TrimSpace(h))
		}
	}
	_, _ = exchange(tp.client, "udp", netip.Addr{}, netip.MustParseAddrPort("203.0.113.2:5353"))
	if !leaked() {
		t.Errorf("without the drop nothing leaked either; the test no longer shows the problem")
	}
}
