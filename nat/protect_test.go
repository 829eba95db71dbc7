package nat

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// The attacks of issue 11, with real traffic in throwaway namespaces. Each
// attack is first shown to work on the bare kernel (so the test can fail),
// then to fail with the protections, while every forward kind still works.

// shIn runs a shell command inside ns, bounded in time.
func shIn(t testing.TB, ns netns.NsHandle, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", "--net="+nsPath(ns), "sh", "-ec", script).CombinedOutput()
	if err != nil {
		t.Fatalf("in the test namespace: %s: %v\n%s", script, err, out)
	}
	return string(out)
}

// localhostAttacker makes the container route 127.0.0.1 through its link,
// as root in a container can: route_localnet on host0, no local route for
// 127.0.0.0/8, and 127.0.0.1 via the host.
func localhostAttacker(t testing.TB, tp *topology) {
	shIn(t, tp.ctr, `echo 1 > /proc/sys/net/ipv4/conf/host0/route_localnet
ip route del local 127.0.0.0/8 dev lo table local
ip route del local 127.0.0.1 dev lo table local
ip route add 127.0.0.1/32 via 10.0.0.1 dev host0`)
}

// hostLoopbackServices listens on the host's 127.0.0.1 only (TCP 9999, UDP
// 9998) and returns a function that reports what reached them since the last
// call: accepted connections, half-open ones (SYN-RECV) and datagrams.
func hostLoopbackServices(t *testing.T, tp *topology) func() (string, bool) {
	t.Helper()
	var l *net.TCPListener
	var pc *net.UDPConn
	if err := InNamespace(tp.host, func() error {
		tl, err := net.Listen("tcp", "127.0.0.1:9999")
		if err != nil {
			return err
		}
		l = tl.(*net.TCPListener)
		u, err := net.ListenPacket("udp", "127.0.0.1:9998")
		pc, _ = u.(*net.UDPConn)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); pc.Close() })
	// A half-open connection stays listed for a minute: report each once.
	reported := map[string]bool{}
	return func() (string, bool) {
		var seen []string
		for _, line := range strings.Split(shIn(t, tp.host, "ss -Htn state syn-recv '( sport = :9999 )'"), "\n") {
			if f := strings.Fields(line); len(f) > 0 && !reported[f[len(f)-1]] {
				reported[f[len(f)-1]] = true
				seen = append(seen, "SYN-RECV from "+f[len(f)-1])
			}
		}
		_ = l.SetDeadline(time.Now().Add(300 * time.Millisecond))
		if c, err := l.Accept(); err == nil {
			seen = append(seen, "connection from "+c.RemoteAddr().String())
			c.Close()
		}
		_ = pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 64)
		if n, from, err := pc.ReadFrom(buf); err == nil {
			seen = append(seen, fmt.Sprintf("datagram %q from %v", buf[:n], from))
		}
		return strings.Join(seen, "; "), len(seen) > 0
	}
}

// attackLoopback sends a TCP SYN and a UDP datagram from the container to
// the host's 127.0.0.1.
func attackLoopback(tp *topology) {
	_ = InNamespace(tp.ctr, func() error {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:9999", time.Second); err == nil {
			c.Close()
		}
		if c, err := net.Dial("udp", "127.0.0.1:9998"); err == nil {
			_, _ = c.Write([]byte("statsd"))
			c.Close()
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // let the datagram arrive before it is looked for
}

// lanRoutes gives the client (a LAN neighbour) routes to the container's
// private networks via the host, as an attacker on the uplink would add.
func lanRoutes(t testing.TB, tp *topology) {
	shIn(t, tp.client, "ip route add 10.0.0.0/24 via 203.0.113.2 && ip -6 route add fd00::/64 via 2001:db8::2")
}

var protectedWeb = func() Machine {
	m := trafficMachine
	m.Addrs = []netip.Addr{a4("10.0.0.2"), a4("fd00::2")}
	return m
}()

// unpublished are direct connections to ports of the container that no
// forward publishes (80 and 53 are only forward targets), also to addresses
// nspawnctl did not assign (SLAAC, or added by root in the container).
var unpublished = []probe{
	{"v4 tcp to the container directly", "client", "", "tcp", "10.0.0.2:80", ""},
	{"v4 udp to the container directly", "client", "", "udp", "10.0.0.2:53", ""},
	{"v6 tcp to the container directly", "client", "2001:db8::10", "tcp", "[fd00::2]:80", ""},
	{"v6 udp to the container directly", "client", "2001:db8::10", "udp", "[fd00::2]:53", ""},
	{"v4 tcp to another address of the container", "client", "", "tcp", "10.0.0.9:80", ""},
	{"v6 tcp to a SLAAC-like address of the container", "client", "2001:db8::10", "tcp", "[fd00::99]:80", ""},
}

// extraAddrs gives the container addresses nspawnctl does not know of.
func extraAddrs(t testing.TB, ns netns.NsHandle) {
	shIn(t, ns, "ip addr add 10.0.0.9/28 dev host0 && ip addr add fd00::99/64 dev host0 nodad preferred_lft 0") // deprecated: never a source of the servers' replies
}

// direct is the same with the answers expected when direct routing is open.
func direct() []probe {
	out := append([]probe(nil), unpublished...)
	for i := range out {
		p := &out[i]
		port := p.dst[strings.LastIndex(p.dst, ":")+1:]
		from := "203.0.113.10"
		if p.src != "" {
			from = p.src
		}
		p.want = port + " " + from
	}
	return out
}

// TestExposureAttacks: a container routing 127.0.0.1 through its link gets
// nothing delivered on the host, a LAN neighbour routing the private subnet
// via the host reaches no unpublished port, and every forward kind, the
// containers' own outbound connections and the host's connections to them
// keep working. Direct routing opt-in opens the addresses again.
func TestExposureAttacks(t *testing.T) {
	tp, a := startTraffic(t)
	serve(t, tp.client, []uint16{7777}, nil)
	received := hostLoopbackServices(t, tp)
	localhostAttacker(t, tp)
	lanRoutes(t, tp)
	extraAddrs(t, tp.ctr)

	// The bare kernel with route_localnet (what localhost forwards need):
	// both attacks work, so the checks below can fail.
	if err := (NamespaceLinks{NS: tp.host}).EnableRouteLocalnet("ve-web"); err != nil {
		t.Fatal(err)
	}
	attackLoopback(tp)
	if what, ok := received(); !ok {
		t.Fatal("test bed: without protections the container's packets to 127.0.0.1 should reach the host")
	} else {
		t.Logf("without protections the host's 127.0.0.1 services got: %s", what)
	}
	runProbes(t, tp, direct())
	if t.Failed() {
		t.Fatal("test bed: without protections the LAN neighbour should reach the container directly")
	}

	if err := a.Apply([]Machine{protectedWeb}); err != nil {
		t.Fatal(err)
	}
	attackLoopback(tp)
	if what, ok := received(); ok {
		t.Errorf("with protections the host's 127.0.0.1-only services still got: %s", what)
	}
	runProbes(t, tp, unpublished)
	runProbes(t, tp, trafficProbes)
	runProbes(t, tp, []probe{
		{"container to the LAN", "ctr", "", "tcp", "203.0.113.10:7777", "7777 10.0.0.2"},
		{"host to the container", "host", "", "tcp", "10.0.0.2:80", "80 10.0.0.1"},
		{"host to the container, v6", "host", "", "tcp", "[fd00::2]:80", "80 fd00::1"},
	})
	c, err := a.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Installed[IPv4] || !c.Installed[IPv6] {
		t.Errorf("Counters.Installed = %v, want both", c.Installed)
	}
	if d := c.Dropped(CommentLoopbackDst); d.Packets == 0 {
		t.Errorf("loopback drops not counted: %+v", d)
	}
	if d := c.Dropped(CommentUnpublished); d.Packets < 4 {
		t.Errorf("unpublished drops = %+v, want at least one per probe", d)
	}
	if d := c.LinkDropped("ve-web"); d.Packets < 4 {
		t.Errorf("web's drops = %+v, want at least one per unpublished probe", d)
	}
	if n := c.Forward(trafficMachine.Forwards[0]); n.Packets < 4 || n.Bytes == 0 {
		t.Errorf("forward %s carried %+v, want its connections' packets", trafficMachine.Forwards[0], n)
	}
	t.Logf("drops: loopback %+v, unpublished %+v; forward %s: %+v", c.Dropped(CommentLoopbackDst), c.Dropped(CommentUnpublished),
		trafficMachine.Forwards[0], c.Forward(trafficMachine.Forwards[0]))

	// Direct routing, opted in: the addresses are reachable again, the
	// loopback protection stays.
	open := protectedWeb
	open.Direct = true
	if err := a.Apply([]Machine{open}); err != nil {
		t.Fatal(err)
	}
	runProbes(t, tp, direct())
	attackLoopback(tp)
	if what, ok := received(); ok {
		t.Errorf("with direct routing the host's 127.0.0.1-only services got: %s", what)
	}

	// A flush wipes the protections; restore brings them back.
	if err := a.Apply([]Machine{protectedWeb}); err != nil {
		t.Fatal(err)
	}
	nftIn(t, tp.host, "", "flush", "ruleset")
	runProbes(t, tp, direct()[:1])
	restoreFrom(t, a, protectedWeb)
	runProbes(t, tp, unpublished)
	runProbes(t, tp, trafficProbes[:3])
	attackLoopback(tp)
	if what, ok := received(); ok {
		t.Errorf("after flush and restore the host's 127.0.0.1-only services got: %s", what)
	}
}

// restoreFrom runs Restore from a store holding the machines, all up.
func restoreFrom(t *testing.T, a *Applier, machines ...Machine) {
	t.Helper()
	st := NewStore(t.TempDir())
	for _, m := range machines {
		if err := st.Save(m); err != nil {
			t.Fatal(err)
		}
		if err := st.SetUp(m.Name, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := Restore(a, st); err != nil {
		t.Fatal(err)
	}
}

// TestIsolation: a second machine on another link reaches the first
// directly until the first is isolated; then only through a forward.
func TestIsolation(t *testing.T) {
	tp, a := startTraffic(t)
	db := newNS(t)
	shIn(t, tp.host, fmt.Sprintf("ip link add ve-db type veth peer name host0 netns /proc/%d/fd/%d && ip addr add 10.0.0.17/28 dev ve-db && ip link set ve-db up", os.Getpid(), int(db)))
	shIn(t, db, "ip link set lo up && ip link set host0 up && ip addr add 10.0.0.18/28 dev host0 && ip route add default via 10.0.0.17")
	serve(t, db, []uint16{5432}, nil)
	extraAddrs(t, tp.ctr)
	tp2 := &topology{host: tp.host, ctr: db, client: tp.ctr} // "ctr" = db, "client" = web
	dbm := Machine{Name: "db", Link: "ve-db", Addrs: []netip.Addr{a4("10.0.0.18")}}
	web := protectedWeb
	if err := a.Apply([]Machine{web, dbm}); err != nil {
		t.Fatal(err)
	}
	both := []probe{
		{"db to web directly", "ctr", "", "tcp", "10.0.0.2:80", "80 10.0.0.18"},
		{"web to db directly", "client", "", "tcp", "10.0.0.18:5432", "5432 10.0.0.2"},
	}
	runProbes(t, tp2, both)
	web.Isolated = true
	if err := a.Apply([]Machine{web, dbm}); err != nil {
		t.Fatal(err)
	}
	runProbes(t, tp2, []probe{
		{"db to isolated web directly", "ctr", "", "tcp", "10.0.0.2:80", ""},
		{"isolated web to db directly", "client", "", "tcp", "10.0.0.18:5432", ""},
		{"isolated web to db from an address it gave itself", "client", "10.0.0.9", "tcp", "10.0.0.18:5432", ""},
		{"db to another address of isolated web", "ctr", "", "tcp", "10.0.0.9:80", ""},
		{"db to isolated web through its forward", "ctr", "", "tcp", "203.0.113.2:8080", "80 203.0.113.2"},
	})
	runProbes(t, tp, trafficProbes)
	c, err := a.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.LinkDropped("ve-web").Packets < 2 || c.LinkDropped("ve-db").Packets != 0 {
		t.Errorf("isolation drops: ve-web %+v (want both directions), ve-db %+v (want none: db is not isolated)", c.LinkDropped("ve-web"), c.LinkDropped("ve-db"))
	}
	if c.Dropped(CommentIsolatedTo).Packets == 0 || c.Dropped(CommentIsolatedFrom).Packets == 0 {
		t.Errorf("isolation drops not counted: to %+v, from %+v", c.Dropped(CommentIsolatedTo), c.Dropped(CommentIsolatedFrom))
	}
	// Lifting the isolation restores direct connections.
	web.Isolated = false
	if err := a.Apply([]Machine{web, dbm}); err != nil {
		t.Fatal(err)
	}
	runProbes(t, tp2, both)
}

// hostFirewall is what nftables.service typically loads on a server: an
// input policy of drop that lets established connections, lo and ICMPv6
// (neighbour discovery) in.
const hostFirewall = `flush ruleset
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		meta l4proto ipv6-icmp accept
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
`

// TestExposureWithHostFirewall: with a drop-policy host firewall loaded
// the way nftables.service does (flush ruleset, then its table), the
// forwards work and the protections hold after restore.
func TestExposureWithHostFirewall(t *testing.T) {
	tp, a := startTraffic(t)
	lanRoutes(t, tp)
	if err := a.Apply([]Machine{protectedWeb}); err != nil {
		t.Fatal(err)
	}
	nftIn(t, tp.host, hostFirewall, "-f", "-") // wipes io.systemd.nat, as a firewall start does
	runProbes(t, tp, direct()[:1])             // unprotected now
	restoreFrom(t, a, protectedWeb)
	runProbes(t, tp, unpublished[:4])
	runProbes(t, tp, trafficProbes)
	if got := nftIn(t, tp.host, "", "list", "table", "inet", "filter"); !strings.Contains(got, "policy drop") {
		t.Errorf("the host firewall is gone after restore:\n%s", got)
	}
}
