package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/host"
)

// systemProbe is what the helper reports from inside its namespace.
type systemProbe struct {
	IPForward  string
	Links      []Link
	LinksErr   string
	UnitErr    string
	Firewall   Check
	Forwarding []Check
	Report     Report
}

// TestSystemInNamespace runs the real System view inside a throwaway
// network namespace (unshare -n) holding a veth pair named like a container
// link, forwarding switched on and a firewall loaded, and checks what the
// probes see there. Nothing touches the machine's own namespace: the
// namespace disappears with the helper process.
func TestSystemInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	for _, tool := range []string{"unshare", "ip", "nft", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (needs util-linux, iproute2, nftables, procps)", tool)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := `set -e
ip link add ve-probe type veth peer name host0
sysctl -qw net.ipv4.ip_forward=1
nft -f testdata/rulesets/healthy.nft
exec "$1" -test.run='^TestSystemHelper$' -test.count=1`
	cmd := exec.Command("unshare", "-n", "sh", "-c", script, "sh", self)
	cmd.Env = append(os.Environ(), "NSPAWNCTL_DOCTOR_HELPER=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper in a new network namespace: %v\n%s\n%s", err, out, stderr.String())
	}
	i := bytes.IndexByte(out, '{')
	var p systemProbe
	if i < 0 || json.NewDecoder(bytes.NewReader(out[i:])).Decode(&p) != nil {
		t.Fatalf("helper printed no report:\n%s\n%s", out, stderr.String())
	}
	if p.IPForward != "1" {
		t.Errorf("Sysctl(net/ipv4/ip_forward) = %q inside the namespace, want 1", p.IPForward)
	}
	var veth *Link
	for i := range p.Links {
		if p.Links[i].Name == "ve-probe" {
			veth = &p.Links[i]
		}
	}
	if veth == nil || veth.Kind != "veth" {
		t.Errorf("Links() = %+v (%s), want ve-probe of kind veth", p.Links, p.LinksErr)
	}
	if p.Firewall.Status != StatusOK {
		t.Errorf("firewall check on the loaded healthy ruleset: %s %s\n%s", p.Firewall.Status, p.Firewall.Summary, p.Firewall.Detail)
	}
	if len(p.Forwarding) == 0 || p.Forwarding[0].Status != StatusOK {
		t.Errorf("forwarding-ipv4 in the namespace: %+v", p.Forwarding)
	}
	for _, c := range p.Report.Checks {
		if c.ID == "networkd-links" && c.Status != StatusWarn && c.Status != StatusFail {
			t.Errorf("networkd-links with a ve- link and no networkd: %s %s", c.Status, c.Summary)
		}
	}
	if p.UnitErr == "" {
		t.Logf("systemd answered over D-Bus; the no-systemd paths were not exercised")
	}
}

// TestSystemHelper is the body of TestSystemInNamespace, run by it inside
// the new namespace; on its own it does nothing.
func TestSystemHelper(t *testing.T) {
	if os.Getenv("NSPAWNCTL_DOCTOR_HELPER") != "1" {
		t.Skip("run by TestSystemInNamespace")
	}
	bus, err := host.OpenBus(context.Background())
	if err == nil {
		defer bus.Close()
	}
	s := NewSystem(bus, err)
	var p systemProbe
	p.IPForward, _ = s.Sysctl("net/ipv4/ip_forward")
	if p.Links, err = s.Links(); err != nil {
		p.LinksErr = err.Error()
	}
	if _, err := s.Unit("systemd-networkd.service"); err != nil {
		p.UnitErr = err.Error()
	}
	p.Firewall = checkFirewall(s, false)
	p.Forwarding = checkForwarding(s, 0)
	p.Report = Run(s, Options{})
	b, _ := json.Marshal(p)
	os.Stdout.Write(append(b, '\n'))
}
