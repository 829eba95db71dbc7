package nat

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// topology is the test bed: a "host" namespace, a "container" joined to it
// by the veth ve-web/host0, and a "client" joined by vc-client/eth0.
//
//	client 203.0.113.10, .11, 2001:db8::10, ::11  --  host 203.0.113.2, .3, 2001:db8::2, ::3
//	host ve-web 10.0.0.1/28, fd00::1/64           --  container 10.0.0.2, fd00::2
type topology struct {
	host, ctr, client netns.NsHandle
}

func newTopology(t testing.TB) *topology {
	t.Helper()
	tp := &topology{host: newNS(t), ctr: newNS(t), client: newNS(t)}
	// No duplicate address detection on the links to come, including their
	// link-local addresses: ND would otherwise fail for a second or two.
	for _, ns := range []netns.NsHandle{tp.host, tp.ctr, tp.client} {
		if err := InNamespace(ns, func() error {
			for _, c := range []string{"all", "default"} {
				if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/accept_dad", []byte("0\n"), 0o644); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := netlink.NewHandleAt(tp.host)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	veth := func(name, peer string, peerNS netns.NsHandle) {
		la := netlink.NewLinkAttrs()
		la.Name = name
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: peer, PeerNamespace: netlink.NsFd(peerNS)}); err != nil {
			t.Fatalf("create veth %s/%s: %v", name, peer, err)
		}
	}
	veth("ve-web", "host0", tp.ctr)
	veth("vc-client", "eth0", tp.client)
	setup := func(ns netns.NsHandle, link string, addrs []string, gw4, gw6 string) {
		nh, err := netlink.NewHandleAt(ns)
		if err != nil {
			t.Fatal(err)
		}
		defer nh.Close()
		for _, name := range []string{"lo", link} {
			l, err := nh.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := nh.LinkSetUp(l); err != nil {
				t.Fatal(err)
			}
		}
		l, _ := nh.LinkByName(link)
		for _, a := range addrs {
			addr, err := netlink.ParseAddr(a)
			if err != nil {
				t.Fatal(err)
			}
			addr.Flags = unix.IFA_F_NODAD // no duplicate detection delay in a closed test bed
			if err := nh.AddrAdd(l, addr); err != nil {
				t.Fatalf("add %s to %s: %v", a, link, err)
			}
		}
		for _, gw := range []string{gw4, gw6} {
			if gw == "" {
				continue
			}
			if err := nh.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP(gw)}); err != nil {
				t.Fatalf("default route via %s: %v", gw, err)
			}
		}
	}
	setup(tp.host, "ve-web", []string{"10.0.0.1/28", "fd00::1/64"}, "", "")
	setup(tp.host, "vc-client", []string{"203.0.113.2/24", "203.0.113.3/24", "2001:db8::2/64", "2001:db8::3/64"}, "", "")
	setup(tp.ctr, "host0", []string{"10.0.0.2/28", "fd00::2/64"}, "10.0.0.1", "fd00::1")
	setup(tp.client, "eth0", []string{"203.0.113.10/24", "203.0.113.11/24", "2001:db8::10/64", "2001:db8::11/64"}, "203.0.113.2", "2001:db8::2")
	// Forwarding inside the test's host namespace only.
	if err := InNamespace(tp.host, func() error {
		for _, p := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
			if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return tp
}

// serve starts TCP and UDP echo servers in ns on each port (dual-stack);
// each answers "PORT FROM-ADDRESS". They stop at cleanup.
func serve(t testing.TB, ns netns.NsHandle, tcp, udp []uint16) {
	t.Helper()
	var wg sync.WaitGroup
	var closers []func()
	for _, p := range tcp {
		var l net.Listener
		if err := InNamespace(ns, func() (err error) { l, err = net.Listen("tcp", fmt.Sprintf(":%d", p)); return }); err != nil {
			t.Fatal(err)
		}
		closers = append(closers, func() { l.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				ra := c.RemoteAddr().(*net.TCPAddr)
				fmt.Fprintf(c, "%d %s\n", p, netip.MustParseAddr(ra.IP.String()).Unmap())
				c.Close()
			}
		}()
	}
	for _, p := range udp {
		var pc net.PacketConn
		if err := InNamespace(ns, func() (err error) { pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", p)); return }); err != nil {
			t.Fatal(err)
		}
		closers = append(closers, func() { pc.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for {
				_, ra, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				ip := netip.MustParseAddr(ra.(*net.UDPAddr).IP.String()).Unmap()
				fmt.Fprint(asWriter(pc, ra), fmt.Sprintf("%d %s\n", p, ip))
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range closers {
			c()
		}
		wg.Wait()
	})
}

type pcWriter struct {
	pc net.PacketConn
	to net.Addr
}

func (w pcWriter) Write(b []byte) (int, error) { return w.pc.WriteTo(b, w.to) }

func asWriter(pc net.PacketConn, to net.Addr) pcWriter { return pcWriter{pc, to} }

// exchange connects from ns (from the local address src, if valid) to dst
// and returns the server's answer. Bounded: 2 s.
func exchange(ns netns.NsHandle, proto string, src netip.Addr, dst netip.AddrPort) (string, error) {
	var answer string
	err := InNamespace(ns, func() error {
		d := net.Dialer{Timeout: 2 * time.Second}
		if src.IsValid() {
			if proto == "tcp" {
				d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
			} else {
				d.LocalAddr = &net.UDPAddr{IP: src.AsSlice()}
			}
		}
		c, err := d.Dial(proto, dst.String())
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if proto == "udp" {
			if _, err := c.Write([]byte("ping")); err != nil {
				return err
			}
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		answer = strings.TrimSpace(line)
		return err
	})
	return answer, err
}

// trafficForwards exercises every forward kind in both families.
var trafficMachine = Machine{Name: "web", Link: "ve-web", Forwards: []Forward{
	{Protocol: "tcp", HostPorts: port(8080), Target: a4("10.0.0.2"), TargetPorts: port(80)},
	{Protocol: "udp", HostPorts: port(5353), Target: a4("10.0.0.2"), TargetPorts: port(53)},
	{Protocol: "tcp", HostAddr: a4("203.0.113.2"), HostPorts: port(8081), Target: a4("10.0.0.2"), TargetPorts: port(81)},
	{Protocol: "tcp", HostAddr: a4("127.0.0.1"), HostPorts: port(8082), Target: a4("10.0.0.2"), TargetPorts: port(82)},
	{Protocol: "tcp", HostPorts: PortRange{9000, 9001}, Target: a4("10.0.0.2"), TargetPorts: PortRange{9000, 9001}},
	{Protocol: "tcp", HostPorts: PortRange{8000, 8001}, Target: a4("10.0.0.2"), TargetPorts: PortRange{80, 81}},
	{Protocol: "udp", HostPorts: PortRange{7000, 7001}, Target: a4("10.0.0.2"), TargetPorts: PortRange{53, 54}},
	{Protocol: "tcp", HostPorts: port(2222), Target: a4("10.0.0.2"), TargetPorts: port(22), AllowFrom: []netip.Prefix{pfx("203.0.113.10/32")}},
	{Protocol: "tcp", HostPorts: port(8080), Target: a4("fd00::2"), TargetPorts: port(80)},
	{Protocol: "udp", HostPorts: port(5353), Target: a4("fd00::2"), TargetPorts: port(53)},
	{Protocol: "tcp", HostAddr: a4("2001:db8::2"), HostPorts: port(8081), Target: a4("fd00::2"), TargetPorts: port(81)},
	{Protocol: "tcp", HostPorts: PortRange{8000, 8001}, Target: a4("fd00::2"), TargetPorts: PortRange{80, 81}},
	{Protocol: "udp", HostPorts: PortRange{7000, 7001}, Target: a4("fd00::2"), TargetPorts: PortRange{53, 54}},
	{Protocol: "tcp", HostPorts: port(2222), Target: a4("fd00::2"), TargetPorts: port(22), AllowFrom: []netip.Prefix{pfx("2001:db8::10/128")}},
}}

type probe struct {
	name  string
	from  string // "client", "host", "ctr"
	src   string // local address to use, "" for the kernel's choice
	proto string
	dst   string
	want  string // expected answer; "" = must fail
}

var trafficProbes = []probe{
	{"v4 wildcard from outside", "client", "", "tcp", "203.0.113.2:8080", "80 203.0.113.10"},
	{"v4 wildcard on another host address", "client", "", "tcp", "203.0.113.3:8080", "80 203.0.113.10"},
	{"v4 wildcard udp", "client", "", "udp", "203.0.113.2:5353", "53 203.0.113.10"},
	{"v4 bound address", "client", "", "tcp", "203.0.113.2:8081", "81 203.0.113.10"},
	{"v4 bound, other address", "client", "", "tcp", "203.0.113.3:8081", ""},
	{"v4 range", "client", "", "tcp", "203.0.113.2:9001", "9001 203.0.113.10"},
	{"v4 shifted range", "client", "", "tcp", "203.0.113.2:8001", "81 203.0.113.10"},
	{"v4 shifted udp range", "client", "", "udp", "203.0.113.2:7001", "54 203.0.113.10"},
	{"v4 allowed source", "client", "203.0.113.10", "tcp", "203.0.113.2:2222", "22 203.0.113.10"},
	{"v4 other source", "client", "203.0.113.11", "tcp", "203.0.113.2:2222", ""},
	{"v4 from the host to a local address", "host", "", "tcp", "203.0.113.2:8080", "80 203.0.113.2"},
	{"v4 from the host's localhost", "host", "", "tcp", "127.0.0.1:8080", "80 10.0.0.1"},
	{"v4 from the host's localhost, udp", "host", "", "udp", "127.0.0.1:5353", "53 10.0.0.1"},
	{"v4 bound to 127.0.0.1", "host", "", "tcp", "127.0.0.1:8082", "82 10.0.0.1"},
	{"v4 bound to 127.0.0.1, not from outside", "client", "", "tcp", "203.0.113.2:8082", ""},
	{"v4 hairpin via the outside address", "ctr", "", "tcp", "203.0.113.2:8080", "80 203.0.113.2"},
	{"v4 hairpin via the link address", "ctr", "", "tcp", "10.0.0.1:8080", "80 10.0.0.1"},
	{"v4 hairpin udp", "ctr", "", "udp", "203.0.113.2:5353", "53 203.0.113.2"},
	{"v6 wildcard from outside", "client", "2001:db8::10", "tcp", "[2001:db8::2]:8080", "80 2001:db8::10"},
	{"v6 wildcard udp", "client", "2001:db8::10", "udp", "[2001:db8::3]:5353", "53 2001:db8::10"},
	{"v6 bound address", "client", "2001:db8::10", "tcp", "[2001:db8::2]:8081", "81 2001:db8::10"},
	{"v6 bound, other address", "client", "2001:db8::10", "tcp", "[2001:db8::3]:8081", ""},
	{"v6 shifted range", "client", "2001:db8::10", "tcp", "[2001:db8::2]:8001", "81 2001:db8::10"},
	{"v6 shifted udp range", "client", "2001:db8::10", "udp", "[2001:db8::2]:7000", "53 2001:db8::10"},
	{"v6 allowed source", "client", "2001:db8::10", "tcp", "[2001:db8::2]:2222", "22 2001:db8::10"},
	{"v6 other source", "client", "2001:db8::11", "tcp", "[2001:db8::2]:2222", ""},
	{"v6 from the host to a local address", "host", "", "tcp", "[2001:db8::2]:8080", "80 2001:db8::2"},
	{"v6 from the host's ::1 (cannot work)", "host", "", "tcp", "[::1]:8080", ""},
	{"v6 hairpin", "ctr", "", "tcp", "[2001:db8::2]:8080", "80 2001:db8::2"},
}

func (tp *topology) ns(name string) netns.NsHandle {
	return map[string]netns.NsHandle{"client": tp.client, "host": tp.host, "ctr": tp.ctr}[name]
}

// runProbes checks every probe; only wants listed in skipWant are expected to
// fail instead.
func runProbes(t *testing.T, tp *topology, probes []probe) {
	t.Helper()
	for _, p := range probes {
		var src netip.Addr
		if p.src != "" {
			src = netip.MustParseAddr(p.src)
		}
		got, err := exchange(tp.ns(p.from), p.proto, src, netip.MustParseAddrPort(p.dst))
		switch {
		case p.want == "" && err == nil:
			t.Errorf("%s: %s %s from %s answered %q, want no answer", p.name, p.proto, p.dst, p.from, got)
		case p.want != "" && err != nil:
			t.Errorf("%s: %s %s from %s: %v, want %q", p.name, p.proto, p.dst, p.from, err, p.want)
		case p.want != "" && got != p.want:
			t.Errorf("%s: %s %s from %s answered %q, want %q", p.name, p.proto, p.dst, p.from, got, p.want)
		}
	}
}

func startTraffic(t *testing.T) (*topology, *Applier) {
	requireKernel(t)
	tp := newTopology(t)
	serve(t, tp.ctr, []uint16{80, 81, 82, 22, 9000, 9001}, []uint16{53, 54})
	return tp, newApplier(t, tp.host)
}

// TestTraffic sends real TCP connections and UDP exchanges through every
// forward kind, in both families.
func TestTraffic(t *testing.T) {
	tp, a := startTraffic(t)
	// Before any forward: nothing answers.
	if _, err := exchange(tp.client, "tcp", netip.Addr{}, netip.MustParseAddrPort("203.0.113.2:8080")); err == nil {
		t.Fatal("port 8080 answered before any forward was installed")
	}
	if err := a.Apply([]Machine{trafficMachine}); err != nil {
		t.Fatal(err)
	}
	runProbes(t, tp, trafficProbes)
	// Removing the machine removes every forward.
	if err := a.RemoveMachine("web"); err != nil {
		t.Fatal(err)
	}
	for _, p := range trafficProbes {
		if p.want != "" && p.proto == "tcp" {
			if _, err := exchange(tp.ns(p.from), p.proto, netip.Addr{}, netip.MustParseAddrPort(p.dst)); err == nil || !errors.Is(err, unix.ECONNREFUSED) {
				t.Errorf("%s: after removal: %v, want connection refused", p.name, err)
			}
		}
	}
}
