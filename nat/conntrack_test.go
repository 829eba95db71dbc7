package nat

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestShadowed(t *testing.T) {
	local := map[netip.Addr]bool{a4("203.0.113.2"): true, a4("2001:db8::2"): true}
	fw := []Forward{
		{Protocol: "udp", HostPorts: PortRange{4242, 4243}, Target: a4("10.0.0.2"), TargetPorts: PortRange{4242, 4243}},
		{Protocol: "udp", HostAddr: a4("2001:db8::2"), HostPorts: port(5000), Target: a4("fd00::2"), TargetPorts: port(5000)},
		{Protocol: "tcp", HostPorts: port(80), Target: a4("10.0.0.2"), TargetPorts: port(80)},
	}
	ap := netip.MustParseAddrPort
	for _, c := range []struct {
		name string
		flow Flow
		want bool
	}{
		{"to the forwarded port, not DNATed", Flow{unix.IPPROTO_UDP, ap("203.0.113.2:4243"), ap("203.0.113.2:4243")}, true},
		{"already DNATed", Flow{unix.IPPROTO_UDP, ap("203.0.113.2:4243"), ap("10.0.0.2:4243")}, false},
		{"another port", Flow{unix.IPPROTO_UDP, ap("203.0.113.2:4244"), ap("203.0.113.2:4244")}, false},
		{"not a local address (a container's outbound flow)", Flow{unix.IPPROTO_UDP, ap("198.51.100.9:4242"), ap("198.51.100.9:4242")}, false},
		{"TCP", Flow{unix.IPPROTO_TCP, ap("203.0.113.2:80"), ap("203.0.113.2:80")}, false},
		{"IPv6, bound address", Flow{unix.IPPROTO_UDP, ap("[2001:db8::2]:5000"), ap("[2001:db8::2]:5000")}, true},
		{"IPv4 flow, IPv6-only forward port", Flow{unix.IPPROTO_UDP, ap("203.0.113.2:5000"), ap("203.0.113.2:5000")}, false},
	} {
		if got := Shadowed(c.flow, local, fw); got != c.want {
			t.Errorf("%s: Shadowed = %t, want %t", c.name, got, c.want)
		}
	}
}

// TestDropShadowed reproduces the stale entry in a throwaway namespace: a
// client keeps sending UDP from one port to the host before the forward
// exists; the forward installed afterwards does not reach it until the
// applier drops the entry, and then it does.
func TestDropShadowed(t *testing.T) {
	tp, a := startTraffic(t)
	// The table exists (conntrack is on in the host namespace) before the
	// UDP forward, as on a host whose machines have forwards.
	tcp := Forward{Protocol: "tcp", HostPorts: port(8080), Target: a4("10.0.0.2"), TargetPorts: port(80)}
	if err := a.ApplyMachine(Machine{Name: "web", Link: "ve-web", Forwards: []Forward{tcp}}); err != nil {
		t.Fatal(err)
	}
	var pc *net.UDPConn
	if err := InNamespace(tp.client, func() error {
		var err error
		pc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("203.0.113.10"), Port: 40000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	to := &net.UDPAddr{IP: net.ParseIP("203.0.113.2"), Port: 5353}
	ask := func() string {
		buf := make([]byte, 100)
		for range 3 {
			if _, err := pc.WriteTo([]byte("ping"), to); err != nil {
				t.Fatal(err)
			}
			_ = pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if n, _, err := pc.ReadFrom(buf); err == nil {
				return strings.TrimSpace(string(buf[:n]))
			}
		}
		return ""
	}
	if got := ask(); got != "" {
		t.Fatalf("answered %q before any UDP forward", got)
	}
	web := Machine{Name: "web", Link: "ve-web", Forwards: []Forward{tcp, {Protocol: "udp", HostPorts: port(5353), Target: a4("10.0.0.2"), TargetPorts: port(53)}}}
	if err := a.ApplyMachine(web); err != nil {
		t.Fatal(err)
	}
	if got := ask(); got != "" {
		t.Fatalf("answered %q through the forward although the client's entry predates it; the test no longer shows the problem", got)
	}
	// The incremental path (nat up of a starting machine) drops them too.
	a.Conntrack = NamespaceConntrack{NS: tp.host}
	if err := a.ReplaceMachine(&web, web); err != nil {
		t.Fatal(err)
	}
	if got, want := ask(), "53 203.0.113.10"; got != want {
		t.Errorf("after dropping the shadowing entry: answer %q, want %q", got, want)
	}
}
