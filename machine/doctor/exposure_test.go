package doctor

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/nat"
)

// nftJSON loads nft text into a throwaway network namespace with the real
// nft and returns what "nft -j list ruleset" prints there.
func nftJSON(t *testing.T, text string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root (a throwaway network namespace)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("requires nft (Debian package nftables)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "sh", "-ec", `nft -f - && nft -j list ruleset`)
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nft in a throwaway namespace: %v", err)
	}
	return string(out)
}

// TestExposureCheck runs the check on what the real nft lists for the
// planned protections, and for the same host after "nft flush ruleset".
func TestExposureCheck(t *testing.T) {
	web := nat.Machine{Name: "web", Link: "ve-web", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::2")},
		Forwards: []nat.Forward{{Protocol: "tcp", HostPorts: nat.PortRange{First: 8181, Last: 8181}, Target: netip.MustParseAddr("10.0.0.2"), TargetPorts: nat.PortRange{First: 80, Last: 80}}}}
	rs, err := nat.Plan([]nat.Machine{web})
	if err != nil {
		t.Fatal(err)
	}
	h := healthyHost(t)
	h.ruleset = nftJSON(t, rs.Text())
	h.sysctls["net/ipv4/conf/ve-web/route_localnet"] = "1"
	opts := Options{Running: []nat.Machine{web}}
	if c := checkExposure(h, opts); c.Status != StatusOK || !strings.Contains(c.Detail, "ip6: in place for web") {
		t.Errorf("with protections: %s %s\n%s", c.Status, c.Summary, c.Detail)
	}
	h.ruleset = nftJSON(t, "flush ruleset\n")
	c := checkExposure(h, opts)
	if c.Status != StatusFail || !strings.Contains(c.Detail, "ve-web has route_localnet=1") || !strings.Contains(c.Detail, "ip6 io.systemd.nat lacks chain nspawnctl_forward") {
		t.Errorf("after a flush: %s %s\n%s", c.Status, c.Summary, c.Detail)
	}
	if c.Remedy == "" {
		t.Error("a failed check needs a remedy")
	}
	if c := checkExposure(h, Options{}); c.Status != StatusFail {
		t.Errorf("route_localnet without protection, no machine running: %s %s", c.Status, c.Summary)
	}
}
