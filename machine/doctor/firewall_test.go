package doctor

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

// TestRulesetFixtures loads every testdata/rulesets/*.nft into a throwaway
// network namespace and checks that nft's JSON listing of it is the .json
// fixture the other tests read, so that they run on real nft output.
func TestRulesetFixtures(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (apt-get install nftables)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare is not installed (util-linux)")
	}
	srcs, _ := filepath.Glob("testdata/rulesets/*.nft")
	for _, src := range srcs {
		t.Run(filepath.Base(src), func(t *testing.T) {
			var stderr bytes.Buffer
			// The namespace lives as long as the unshare'd shell.
			cmd := exec.Command("unshare", "-n", "sh", "-c", `nft -f "$1" && nft -j list ruleset`, "sh", src)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("load %s in a new namespace: %v: %s", src, err, stderr.String())
			}
			golden.Check(t, strings.TrimSuffix(src, ".nft")+".json", out)
		})
	}
}

func TestFirewallRulesets(t *testing.T) {
	for _, tc := range []struct {
		ruleset string
		mdns    bool
		links   []Link
		want    Status
	}{
		{ruleset: "healthy", want: StatusOK},
		{ruleset: "healthy", mdns: true, want: StatusOK},
		{ruleset: "closed", want: StatusFail},
		{ruleset: "ports", want: StatusOK},
		{ruleset: "ports", mdns: true, want: StatusFail},
		{ruleset: "undecided", want: StatusWarn},
		{ruleset: "nixos-iptables", want: StatusOK},
		{ruleset: "nixos-iptables", links: []Link{{Name: "ve-web", SetupState: "configured"}}, want: StatusOK},
		{ruleset: "systemd-nat", want: StatusOK},
	} {
		name := tc.ruleset
		if tc.mdns {
			name += "-mdns"
		}
		if tc.links != nil {
			name += "-links"
		}
		t.Run(name, func(t *testing.T) {
			h := healthyHost(t)
			h.ruleset = loadRuleset(t, tc.ruleset)
			h.links = tc.links
			c := checkFirewall(h, tc.mdns)
			if c.Status != tc.want {
				t.Errorf("got %s (%s), want %s\n%s", c.Status, c.Summary, tc.want, c.Detail)
			}
			golden.Check(t, filepath.Join("testdata", "firewall", name+".txt"), text(t, Report{Checks: []Check{c}}))
		})
	}
}

func TestFirewallProbeFailures(t *testing.T) {
	h := healthyHost(t)
	h.rulesetErr = ErrUnsupported
	if c := checkFirewall(h, false); c.Status != StatusWarn || c.Remedy == "" {
		t.Errorf("without nft: got %s (%s), want a warning saying what to check", c.Status, c.Summary)
	}
	h = healthyHost(t)
	h.ruleset = "not json"
	if c := checkFirewall(h, false); c.Status != StatusWarn {
		t.Errorf("unparsable ruleset: got %s, want warn", c.Status)
	}
	h = healthyHost(t)
	h.files["/proc/net/ip_tables_names"] = "filter\n"
	if c := checkFirewall(h, false); c.Status != StatusWarn || !strings.Contains(c.Detail, "iptables-legacy") {
		t.Errorf("legacy iptables: got %s (%s), want a warning naming iptables-legacy", c.Status, c.Detail)
	}
}
