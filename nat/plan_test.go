package nat

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

var (
	a4   = netip.MustParseAddr
	pfx  = netip.MustParsePrefix
	port = func(p uint16) PortRange { return PortRange{p, p} }
)

// planCases are the forward kinds, each rendered to a golden file and, in the
// kernel tests, applied and read back.
var planCases = []struct {
	name     string
	machines []Machine
}{
	{"wildcard4", []Machine{{Name: "web", Link: "ve-web", Forwards: []Forward{
		{Protocol: "tcp", HostPorts: port(8080), Target: a4("10.0.0.2"), TargetPorts: port(80)},
		{Protocol: "udp", HostPorts: port(5353), Target: a4("10.0.0.2"), TargetPorts: port(53)},
	}}}},
	{"bound4", []Machine{{Name: "web", Link: "ve-web", Forwards: []Forward{
		{Protocol: "tcp", HostAddr: a4("203.0.113.2"), HostPorts: port(8080), Target: a4("10.0.0.2"), TargetPorts: port(80)},
		{Protocol: "tcp", HostAddr: a4("127.0.0.1"), HostPorts: port(8081), Target: a4("10.0.0.2"), TargetPorts: port(81)},
	}}}},
	{"ranges4", []Machine{{Name: "web", Link: "ve-web", Forwards: []Forward{
		{Protocol: "tcp", HostPorts: PortRange{9000, 9003}, Target: a4("10.0.0.2"), TargetPorts: PortRange{9000, 9003}},
		{Protocol: "udp", HostPorts: PortRange{8000, 8002}, Target: a4("10.0.0.2"), TargetPorts: PortRange{80, 82}},
	}}}},
	{"allowfrom4", []Machine{{Name: "web", Link: "ve-web", Forwards: []Forward{
		{Protocol: "tcp", HostPorts: port(22), Target: a4("10.0.0.2"), TargetPorts: port(22), AllowFrom: []netip.Prefix{pfx("198.51.100.0/24"), pfx("203.0.113.7/32")}},
		{Protocol: "udp", HostAddr: a4("203.0.113.2"), HostPorts: port(53), Target: a4("10.0.0.2"), TargetPorts: port(53), AllowFrom: []netip.Prefix{pfx("198.51.100.0/25")}},
	}}}},
	{"ipv6", []Machine{{Name: "web", Link: "ve-web", Forwards: []Forward{
		{Protocol: "tcp", HostPorts: port(8080), Target: a4("fd00::2"), TargetPorts: port(80)},
		{Protocol: "tcp", HostAddr: a4("2001:db8::2"), HostPorts: PortRange{8000, 8001}, Target: a4("fd00::2"), TargetPorts: PortRange{80, 81}},
		{Protocol: "udp", HostPorts: port(53), Target: a4("fd00::2"), TargetPorts: port(53), AllowFrom: []netip.Prefix{pfx("2001:db8:1::/48")}},
	}}}},
	{"machines", []Machine{
		{Name: "web", Link: "ve-web", Forwards: []Forward{
			{Protocol: "tcp", HostPorts: port(80), Target: a4("10.0.0.2"), TargetPorts: port(80)},
			{Protocol: "tcp", HostPorts: port(80), Target: a4("fd00::2"), TargetPorts: port(80)},
		}},
		{Name: "db", Link: "vz-zone", Forwards: []Forward{
			{Protocol: "tcp", HostAddr: a4("127.0.0.1"), HostPorts: port(5432), Target: a4("10.0.1.2"), TargetPorts: port(5432)},
		}},
		{Name: "cache", Link: "vz-zone", Forwards: []Forward{
			{Protocol: "tcp", HostAddr: a4("203.0.113.2"), HostPorts: port(6379), Target: a4("10.0.1.3"), TargetPorts: port(6379)},
		}},
		{Name: "idle", Link: "ve-idle"},
	}},
	// Outbound NAT: a veth machine's networks, a machine with no forward,
	// and zone members (their own addresses on the shared link).
	{"masquerade", []Machine{
		{Name: "web", Link: "ve-web", Masquerade: []netip.Prefix{pfx("10.0.0.0/28"), pfx("fd00:0:0:1::/64")}, Forwards: []Forward{
			{Protocol: "tcp", HostPorts: port(8080), Target: a4("10.0.0.2"), TargetPorts: port(80)},
		}},
		{Name: "quiet", Link: "ve-quiet", Masquerade: []netip.Prefix{pfx("10.0.0.16/28")}},
		{Name: "db", Link: "vz-zone", Masquerade: []netip.Prefix{pfx("10.0.1.2/32"), pfx("fd00:0:0:2::2/128")}},
		{Name: "cache", Link: "vz-zone", Masquerade: []netip.Prefix{pfx("10.0.1.3/32")}},
	}},
	{"protect", []Machine{
		{Name: "web", Link: "ve-web", Addrs: []netip.Addr{a4("10.0.0.2"), a4("fd00::2")}, Forwards: []Forward{
			{Protocol: "tcp", HostPorts: port(8080), Target: a4("10.0.0.2"), TargetPorts: port(80)},
			{Protocol: "tcp", HostAddr: a4("127.0.0.1"), HostPorts: port(8081), Target: a4("10.0.0.2"), TargetPorts: port(80)},
			{Protocol: "udp", HostPorts: PortRange{7000, 7001}, Target: a4("fd00::2"), TargetPorts: PortRange{53, 54}},
		}},
		{Name: "db", Link: "vz-back", Addrs: []netip.Addr{a4("10.0.1.2")}, Isolated: true},
		{Name: "pub", Link: "ve-pub", Addrs: []netip.Addr{a4("10.0.2.2"), a4("2001:db8:5::2")}},
		{Name: "routed", Link: "ve-routed", Addrs: []netip.Addr{a4("10.0.3.2")}, Direct: true},
	}},
}

func TestPlanGolden(t *testing.T) {
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := Plan(c.machines)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "testdata/"+c.name+".nft", []byte(rs.Text()))
		})
	}
}

func TestTeardownGolden(t *testing.T) {
	golden.Check(t, "testdata/teardown.nft", []byte(SystemdText(IPv4)+SystemdText(IPv6)))
}

func TestPlanEmpty(t *testing.T) {
	rs, err := Plan([]Machine{{Name: "idle", Link: "ve-idle"}})
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Empty() || rs.Text() != "" {
		t.Fatalf("a machine without forwards must need no objects, got:\n%s", rs.Text())
	}
}

func TestPlanErrors(t *testing.T) {
	web := func(fs ...Forward) Machine { return Machine{Name: "web", Link: "ve-web", Forwards: fs} }
	fw := Forward{Protocol: "tcp", HostPorts: port(80), Target: a4("10.0.0.2"), TargetPorts: port(80)}
	with := func(mod func(*Forward)) Forward { f := fw; mod(&f); return f }
	cases := []struct {
		name     string
		machines []Machine
		want     string
	}{
		{"protocol", []Machine{web(with(func(f *Forward) { f.Protocol = "sctp" }))}, `machine "web": forward sctp *:80 -> 10.0.0.2:80: protocol "sctp" is not supported`},
		{"range length", []Machine{web(with(func(f *Forward) { f.HostPorts = PortRange{80, 81} }))}, "differ in length"},
		{"port zero", []Machine{web(with(func(f *Forward) { f.HostPorts = PortRange{0, 0} }))}, "host ports 0-0"},
		{"family", []Machine{web(with(func(f *Forward) { f.HostAddr = a4("2001:db8::1") }))}, "host address 2001:db8::1"},
		{"ipv6 loopback", []Machine{web(with(func(f *Forward) { f.Target = a4("fd00::2"); f.HostAddr = netip.IPv6Loopback() }))}, "::1 cannot be forwarded"},
		{"allow family", []Machine{web(with(func(f *Forward) { f.AllowFrom = []netip.Prefix{pfx("2001:db8::/32")} }))}, "allowed source 2001:db8::/32"},
		{"allow host bits", []Machine{web(with(func(f *Forward) { f.AllowFrom = []netip.Prefix{pfx("198.51.100.1/24")} }))}, "write 198.51.100.0/24"},
		{"allow overlap", []Machine{web(with(func(f *Forward) { f.AllowFrom = []netip.Prefix{pfx("198.51.100.0/24"), pfx("198.51.100.7/32")} }))}, "overlap"},
		{"link", []Machine{{Name: "web", Forwards: []Forward{fw}}}, "invalid host-side link"},
		{"name", []Machine{{Name: `we"b`, Link: "ve-web"}}, "invalid name"},
		{"twice", []Machine{web(), web()}, "given twice"},
		{"same port", []Machine{web(fw), {Name: "db", Link: "ve-db", Forwards: []Forward{with(func(f *Forward) { f.Target = a4("10.0.0.3") })}}},
			`machine "web": host port tcp *:80 is also forwarded by machine "db"`},
		{"wildcard vs bound", []Machine{web(fw), {Name: "db", Link: "ve-db", Forwards: []Forward{with(func(f *Forward) { f.Target = a4("10.0.0.3"); f.HostAddr = a4("203.0.113.2") })}}},
			"also forwarded by machine"},
		{"range overlap", []Machine{web(with(func(f *Forward) { f.HostPorts = PortRange{70, 90}; f.TargetPorts = PortRange{70, 90} })),
			{Name: "db", Link: "ve-db", Forwards: []Forward{with(func(f *Forward) { f.Target = a4("10.0.0.3") })}}},
			`machine "web": host port tcp *:80 is also forwarded by machine "db"`},
		{"shared target", []Machine{web(fw), {Name: "db", Link: "ve-db", Forwards: []Forward{with(func(f *Forward) { f.HostPorts = port(81) })}}}, "target address 10.0.0.2 is also used"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Plan(c.machines)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Plan error = %v, want one containing %q", err, c.want)
			}
		})
	}
	// Distinct host addresses may share a port.
	ok := []Machine{
		web(with(func(f *Forward) { f.HostAddr = a4("203.0.113.2") })),
		{Name: "db", Link: "ve-db", Forwards: []Forward{with(func(f *Forward) { f.Target = a4("10.0.0.3"); f.HostAddr = a4("203.0.113.3") })}},
	}
	if _, err := Plan(ok); err != nil {
		t.Fatalf("forwards on distinct host addresses must not conflict: %v", err)
	}
}

func TestCheckSystemd(t *testing.T) {
	rs, err := Plan(planCases[0].machines)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckSystemd(rs, []SystemdPort{{IPv4, 6, 8080}, {IPv6, 6, 8080}})
	want := `machine "web": tcp port 8080 (ip) is already mapped by systemd in ip io.systemd.nat map_port_ipport`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("CheckSystemd = %v, want %q", err, want)
	}
	if err := CheckSystemd(rs, []SystemdPort{{IPv4, 17, 8080}}); err != nil {
		t.Fatalf("udp 8080 must not conflict with tcp 8080: %v", err)
	}
}
