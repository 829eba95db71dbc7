package doctor

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/nat"
)

// TestNATState reads a ruleset that nft itself listed (nat-running.nft, the
// plan of nat's "masquerade" case loaded and listed by TestRulesetFixtures)
// and checks that missing outbound NAT and missing forwards are both found.
func TestNATState(t *testing.T) {
	pfx := netip.MustParsePrefix
	web := nat.Machine{Name: "web", Link: "ve-web", Masquerade: []netip.Prefix{pfx("10.0.0.0/28"), pfx("fd00:0:0:1::/64")},
		Forwards: []nat.Forward{{Protocol: "tcp", HostPorts: nat.PortRange{First: 8080, Last: 8080}, Target: netip.MustParseAddr("10.0.0.2"), TargetPorts: nat.PortRange{First: 80, Last: 80}}}}
	quiet := nat.Machine{Name: "quiet", Link: "ve-quiet", Masquerade: []netip.Prefix{pfx("10.0.0.16/28")}}
	lost := nat.Machine{Name: "lost", Link: "ve-lost", Masquerade: []netip.Prefix{pfx("10.0.0.32/28")}}
	unforwarded := web
	unforwarded.Name, unforwarded.Link, unforwarded.Masquerade = "app", "ve-app", nil
	unforwarded.Forwards[0].Target = netip.MustParseAddr("10.0.0.50")
	h := healthyHost(t)
	h.ruleset = loadRuleset(t, "nat-running")
	for _, tc := range []struct {
		running []nat.Machine
		status  Status
		summary string
	}{
		{nil, StatusOK, "no running machine"},
		{[]nat.Machine{web, quiet}, StatusOK, "of 2 running machine(s) are installed"},
		{[]nat.Machine{web, lost}, StatusFail, "outbound NAT is missing for lost"},
		{[]nat.Machine{unforwarded}, StatusFail, "port forwards are missing for app"},
	} {
		c := checkNATState(h, tc.running)
		if c.Status != tc.status || !strings.Contains(c.Summary, tc.summary) {
			t.Errorf("running %v: got %s %q, want %s %q", names(tc.running), c.Status, c.Summary, tc.status, tc.summary)
		}
		if c.Status == StatusFail && !strings.Contains(c.Remedy, "nspawnctl nat restore") {
			t.Errorf("remedy %q does not say to run nat restore", c.Remedy)
		}
	}
	h.ruleset = loadRuleset(t, "healthy")
	if c := checkNATState(h, []nat.Machine{quiet}); c.Status != StatusFail {
		t.Errorf("a ruleset without io.systemd.nat: got %s %q", c.Status, c.Summary)
	}
}

func names(ms []nat.Machine) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}
