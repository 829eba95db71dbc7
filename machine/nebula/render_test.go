package nebula

import (
	"bytes"
	"cmp"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slackhq/nebula/cert"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

// withDefaults fills in s what machine/resolve fills in for a block that
// leaves it unset, for tests that build Settings by hand: device, MTU,
// certificate version and renewal window, a lighthouse's port, punchy
// (set it to false after the call) and the rules' "any".
func withDefaults(s *Settings) *Settings {
	s.Device = cmp.Or(s.Device, DefaultDevice)
	s.MTU = cmp.Or(s.MTU, DefaultMTU)
	s.CertVersion = cmp.Or(s.CertVersion, cert.Version1)
	if s.RenewBefore == 0 {
		s.RenewBefore = cmp.Or(s.Duration/3, RenewBefore)
	}
	if s.AmLighthouse && s.ListenPort == 0 {
		s.ListenPort = DefaultLighthousePort
	}
	s.Punchy = true
	for _, rs := range [][]Rule{s.Inbound, s.Outbound} {
		for i := range rs {
			rs[i].Port = cmp.Or(rs[i].Port, "any")
			rs[i].Proto = cmp.Or(rs[i].Proto, "any")
		}
	}
	return s
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// Stand-ins for PEM material: rendering does not look inside.
var (
	fakeCA   = []byte("-----BEGIN NEBULA CERTIFICATE-----\nQ0EK\n-----END NEBULA CERTIFICATE-----\n")
	fakeCert = []byte("-----BEGIN NEBULA CERTIFICATE-----\nSE9TVAo=\n-----END NEBULA CERTIFICATE-----\n")
	fakeKey  = []byte("-----BEGIN NEBULA X25519 PRIVATE KEY-----\nS0VZCg==\n-----END NEBULA X25519 PRIVATE KEY-----\n")
)

// The two machines of examples/nebula.hcl.
func lighthouseConfig() *Settings {
	return withDefaults(&Settings{
		Network: "corp", CA: "/etc/nspawnctl/nebula-ca/ca.crt", CAKey: "/etc/nspawnctl/nebula-ca/ca.key",
		Address: pfx("10.42.0.1/24"), Groups: []string{"infra"}, AmLighthouse: true, ListenPort: 4242,
		Inbound:  []Rule{{Proto: "icmp", Host: "any"}},
		Outbound: []Rule{{Host: "any"}},
	})
}

func apiConfig() *Settings {
	return withDefaults(&Settings{
		Network: "corp", CA: "/etc/nspawnctl/nebula-ca/ca.crt", CAKey: "/etc/nspawnctl/nebula-ca/ca.key",
		Address: pfx("10.42.0.10/24"), Groups: []string{"web", "prod"},
		Lighthouses:   addrs("10.42.0.1"),
		StaticHostMap: map[netip.Addr][]string{netip.MustParseAddr("10.42.0.1"): {"203.0.113.7:4242"}, netip.MustParseAddr("10.42.0.2"): {"203.0.113.8:4242", "[2001:db8::8]:4242"}},
		Punchy:        true, MTU: 1300,
		Inbound: []Rule{
			{Port: "443", Proto: "tcp", Groups: []string{"ops", "prod"}},
			{Proto: "icmp", Host: "any"},
			{Port: "9100", Proto: "tcp", CIDR: pfx("10.42.100.0/24")},
			{Port: "8000-8080", Proto: "udp", Group: "web", CAName: "corp", CASha: "abc"},
		},
		Outbound: []Rule{{Host: "any"}},
	})
}

func TestRenderConfigGolden(t *testing.T) {
	minimal := withDefaults(&Settings{Network: "n", CA: "/ca.crt", Cert: "/h.crt", Key: "/h.key"})
	minimal.Punchy = false
	for name, cfg := range map[string]*Settings{
		"lighthouse": lighthouseConfig(),
		"api":        apiConfig(),
		// Defaults: no rules, no lighthouse, device and port unset, punchy off.
		"minimal":    minimal,
		"local_cidr": withDefaults(&Settings{Network: "n", CA: "/ca.crt", Cert: "/h.crt", Key: "/h.key", Device: "neb0", Inbound: []Rule{{Port: "22", Proto: "tcp", Host: "any", LocalCIDR: pfx("10.42.0.10/32")}}}),
		// A member behind its host's NAT (examples/fleet): a fixed port the
		// host forwards, the host's address advertised, relays.
		"behind_nat": withDefaults(&Settings{Network: "n", CA: "/ca.crt", Cert: "/h.crt", Key: "/h.key", ListenPort: 4243,
			AdvertiseAddrs: []netip.AddrPort{netip.MustParseAddrPort("198.51.100.130:4243"), netip.MustParseAddrPort("[2001:db8::2]:4300")},
			Relay:          &Relay{UseRelays: true, Relays: addrs("198.51.100.1")}}),
		"relay": withDefaults(&Settings{Network: "n", CA: "/ca.crt", Cert: "/h.crt", Key: "/h.key", AmLighthouse: true, Relay: &Relay{AmRelay: true, UseRelays: false}}),
		// Strings that would break YAML if they were not quoted.
		"quoting": withDefaults(&Settings{Network: "n", CA: "/ca.crt", Cert: "/h.crt", Key: "/h.key", Inbound: []Rule{{Group: "a: b\n- c"}, {Groups: []string{"#x", "'y'", "\"z\""}}}}),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := RenderConfig(RenderInput{Machine: name, Settings: cfg, CA: fakeCA, Cert: fakeCert, Key: fakeKey})
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "testdata/config/"+name+".yml", got)
		})
	}
}

func TestRenderConfigRefusesNonPEM(t *testing.T) {
	_, err := RenderConfig(RenderInput{Machine: "m", Settings: apiConfig(), CA: fakeCA, Cert: []byte("/etc/x.crt"), Key: fakeKey})
	if err == nil || !strings.Contains(err.Error(), "not PEM") {
		t.Fatalf("got %v, want a not-PEM error", err)
	}
}

func TestRenderUnitsGolden(t *testing.T) {
	units, err := RenderUnits(UnitOptions{Binary: "/usr/local/bin/nspawnctl", Nebula: "/usr/bin/nebula"})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range units {
		golden.Check(t, "testdata/units/"+name, b)
		// %I unescapes the instance ("web-1" -> "web/1"); the machine name
		// must reach prepare, the credential and the netns path as it is.
		if bytes.Contains(b, []byte("%I")) {
			t.Errorf("%s uses %%I; machine names with '-' would be mangled, use %%i", name)
		}
	}
	if _, err := RenderUnits(UnitOptions{Binary: "nspawnctl", Nebula: "/usr/bin/nebula"}); err == nil {
		t.Error("a relative binary path was accepted")
	}
	if _, err := RenderUnits(UnitOptions{Binary: "/bin/x\n[Service]", Nebula: "/usr/bin/nebula"}); err == nil {
		t.Error("a path with a newline was accepted")
	}
}

func TestRenderUnmanagedNetworkGolden(t *testing.T) {
	for name, device := range map[string]string{"default": DefaultDevice, "custom": "neb0"} {
		b, err := RenderUnmanagedNetwork(device)
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/network/"+name+".network", b)
	}
}

func TestVersion(t *testing.T) {
	for in, want := range map[string]Version{
		"Version: 1.6.1\n":           {1, 6, 1},
		"Version: 1.12.0":            {1, 12, 0},
		"garbage\nVersion: v1.9.5\n": {1, 9, 5},
	} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseVersion("nebula"); err == nil {
		t.Error("ParseVersion accepted output without a version")
	}
	if !(Version{1, 6, 1}).Less(Version{1, 10, 0}) || (Version{1, 10, 0}).Less(Version{1, 9, 9}) {
		t.Error("Less orders minor versions as strings")
	}
}

func TestCheckVersion(t *testing.T) {
	lc := withDefaults(&Settings{Inbound: []Rule{{Port: "22", Host: "any", LocalCIDR: pfx("10.0.0.0/8")}}})
	if err := CheckVersion("m", lc, Version{1, 6, 1}); err == nil || !strings.Contains(err.Error(), "inbound rule 1 uses local_cidr") {
		t.Errorf("local_cidr on 1.6.1: got %v, want a refusal naming the rule", err)
	}
	if err := CheckVersion("m", lc, Version{1, 7, 0}); err != nil {
		t.Errorf("local_cidr on 1.7.0: %v", err)
	}
	if err := CheckVersion("m", apiConfig(), Version{1, 6, 1}); err != nil {
		t.Errorf("the example on 1.6.1: %v", err)
	}
	if err := CheckVersion("m", apiConfig(), Version{1, 5, 0}); err == nil {
		t.Error("nebula 1.5 was accepted")
	}
	got, err := RequiredFromConfig(mustRender(t, lc))
	if err != nil || got != (Version{1, 7, 0}) {
		t.Errorf("RequiredFromConfig = %v, %v; want 1.7.0", got, err)
	}
}

func mustRender(t *testing.T, cfg *Settings) []byte {
	t.Helper()
	b, err := RenderConfig(RenderInput{Machine: "m", Settings: cfg, CA: fakeCA, Cert: fakeCert, Key: fakeKey})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAllocate(t *testing.T) {
	pool := netip.MustParsePrefix("198.51.100.0/29")
	a, err := Allocate(pool, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Allocate(pool, "web", nil)
	if a != b || a.Bits() != 29 || !pool.Contains(a.Addr()) {
		t.Fatalf("Allocate is not deterministic or out of the pool: %v %v", a, b)
	}
	// Taking every address one by one fills the pool with distinct
	// addresses, never the network or broadcast address.
	var taken []netip.Addr
	seen := map[netip.Addr]bool{}
	for i := 0; i < 6; i++ {
		p, err := Allocate(pool, "web", taken)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p.Addr()] || p.Addr() == pool.Addr() || p.Addr() == netip.MustParseAddr("198.51.100.7") {
			t.Fatalf("bad allocation %v after %v", p, taken)
		}
		seen[p.Addr()] = true
		taken = append(taken, p.Addr())
	}
	if _, err := Allocate(pool, "web", taken); err == nil || !strings.Contains(err.Error(), "full") {
		t.Errorf("a full pool gave %v", err)
	}
	if _, err := Allocate(netip.MustParsePrefix("fd00::/64"), "web", nil); err == nil {
		t.Error("an IPv6 pool was accepted")
	}
}

// systemd 252 (Debian bookworm) parses every setting of the units: an
// unknown key or a bad value would be a warning from systemd-analyze verify.
func TestUnitsVerifyWithSystemdAnalyze(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	units, err := RenderUnits(UnitOptions{Binary: "/bin/true", Nebula: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var args []string
	for name, b := range units {
		p := filepath.Join(dir, strings.Replace(name, "@.", "@m1.", 1))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, args...)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// Each machine's sidecar must get its own dynamic user: systemd would name a
// template's user after the template alone, shared by every instance.
func TestDynamicUserName(t *testing.T) {
	long := "a-machine-name-that-is-too-long"
	for _, c := range []struct{ machine, want string }{
		{"web", "nspawnctl-nb-web"},
		{"neb-blue", "nspawnctl-nb-neb-blue"},
		{"abcdefghijklmnopqr", "nspawnctl-nb-abcdefghijklmnopqr"}, // 31 bytes
		{"abcdefghijklmnopqrs", "nspawnctl-nb_e250f886728b77ba"},
		{"web.example", "nspawnctl-nb_03bbe82aa48c8fa0"},
		{long, "nspawnctl-nb_f10295f3698a495e"},
	} {
		got := DynamicUserName(c.machine)
		if len(got) > maxUserName || !userNameRE.MatchString(got) {
			t.Errorf("DynamicUserName(%q) = %q is not a valid user name", c.machine, got)
		}
		if got != c.want {
			t.Errorf("DynamicUserName(%q) = %q, want %q", c.machine, got, c.want)
		}
	}
	if DynamicUserName("a.b") == DynamicUserName("a-b") {
		t.Error("machines a.b and a-b share a user")
	}
	b, err := RenderSidecarDropIn("neb-blue")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/units/nspawnctl-nebula@neb-blue.service.d/nspawnctl.conf", b)
}
