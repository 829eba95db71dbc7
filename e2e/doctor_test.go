package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// doctorCheck is one check of nspawnctl doctor --json.
type doctorCheck struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Summary string `json:"summary"`
	Remedy  string `json:"remedy"`
}

// runDoctor runs nspawnctl doctor --json in the test host and returns its
// exit code and checks by ID.
func runDoctor(t *testing.T, ctx context.Context, h *testhost.Host, args ...string) (int, map[string]doctorCheck, testhost.Result) {
	t.Helper()
	r := h.Nspawnctl(ctx, append([]string{"doctor", "--json"}, args...)...)
	var rep struct {
		Checks []doctorCheck `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("nspawnctl doctor --json: %v\n%s", err, r)
	}
	out := map[string]doctorCheck{}
	for _, c := range rep.Checks {
		out[c.ID] = c
	}
	return r.Code, out, r
}

// TestDoctor: on the test host after nspawnctl's setup (a running machine
// with a forward, a zone) doctor passes; then each prerequisite is broken in
// turn, and doctor fails naming exactly that check, with a remedy.
func TestDoctor(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	config := fmt.Sprintf(`zone "doc" {}

machine "web" {
  %s
  forward_port {
    host_port      = 8181
    container_port = 80
  }
}

machine "member" {
  %s
  network {
    zone = "doc"
  }
}
`, webRoot, webRoot)
	createMachines(t, ctx, h, "doctor", config, "web", "member")
	timed(t, "machines up", func() {
		machineAddr(t, ctx, h, "web", ula)
		machineAddr(t, ctx, h, "member", ula)
		if _, _, err := testhost.WaitGet(ctx, h.ClientGet, clientURL(testhost.HostIPv4, 8181), "machine web", 30*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	timed(t, "doctor passes", func() {
		// networkd may still be configuring a link for a moment.
		var last testhost.Result
		_, err := testhost.Until(ctx, 30*time.Second, time.Second, "doctor passes", func(ctx context.Context) error {
			code, _, r := runDoctor(t, ctx, h, "/root/doctor.hcl")
			last = r
			if code != 0 {
				return fmt.Errorf("exit %d", code)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v\n%s", err, last)
		}
		t.Logf("doctor on the prepared test host:\n%s", h.Nspawnctl(ctx, "doctor", "/root/doctor.hcl").Stdout)
	})

	outside := func(script string) func() error {
		return func() error {
			out, err := exec.CommandContext(ctx, "nsenter", "--net="+h.HostNetns(), "--", "sh", "-c", script).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v: %s", script, err, out)
			}
			return nil
		}
	}
	inside := func(script string) func() error {
		return func() error {
			_, _, err := h.Sh(ctx, script)
			return err
		}
	}
	for _, c := range []struct {
		id            string
		break_, fix   func() error
		summaryPrefix string
		remedyHas     string
	}{
		{"networkd",
			inside("systemctl mask --now systemd-networkd.service systemd-networkd.socket"),
			inside("systemctl unmask systemd-networkd.service systemd-networkd.socket && systemctl start systemd-networkd.service"),
			"systemd-networkd.service is masked", "systemctl unmask systemd-networkd.service"},
		{"nss-mymachines",
			inside("cp /etc/nsswitch.conf /root/nsswitch.conf.e2e && printf 'hosts: files dns\\n' > /etc/nsswitch.conf"),
			inside("mv /root/nsswitch.conf.e2e /etc/nsswitch.conf"),
			"mymachines is not in the hosts: line", "libnss-mymachines"},
		{"forwarding-ipv4",
			// /proc/sys is read-only inside the test host: from outside, in its namespace.
			outside("echo 0 > /proc/sys/net/ipv4/ip_forward"),
			outside("echo 1 > /proc/sys/net/ipv4/ip_forward"),
			"net.ipv4.ip_forward = 0", "net.ipv4.ip_forward = 1"},
		{"firewall",
			inside(`nft -f - <<'EOF'
table inet e2efw {
  chain input { type filter hook input priority 0; policy drop; tcp dport 22 accept; }
}
EOF`),
			inside("nft delete table inet e2efw"),
			"the host firewall drops traffic from container links",
			// The remedy must name the chain that drops, so it works as printed.
			"nft insert rule inet e2efw input"},
		// Last: starting nftables.service flushes the ruleset. nspawnctl's
		// setup enabled the restore unit that makes that harmless; without
		// it, doctor must fail.
		{"nftables-flush",
			inside("systemctl disable nspawnctl-nat-restore.service && systemctl enable --now nftables.service"),
			inside("systemctl disable --now nftables.service && systemctl enable nspawnctl-nat-restore.service"),
			"restarting or reloading nftables.service wipes", "nspawnctl-nat-restore.service"},
	} {
		timed(t, "broken "+c.id, func() {
			if err := c.break_(); err != nil {
				t.Fatalf("break %s: %v", c.id, err)
			}
			code, checks, r := runDoctor(t, ctx, h, "/root/doctor.hcl")
			got := checks[c.id]
			if code != 1 || got.Status != "fail" || !strings.Contains(got.Remedy, c.remedyHas) || !strings.HasPrefix(got.Summary, c.summaryPrefix) {
				t.Errorf("doctor with %s broken: exit %d, check %+v; want exit 1 and a failed check with a remedy\n%s", c.id, code, got, r)
			}
			for id, other := range checks {
				// A flush without the restore unit really wipes the running
				// machine's forwards, outbound NAT and exposure protections:
				// nat-state and exposure see that.
				if other.Status == "fail" && id != c.id && !(c.id == "networkd" && id == "networkd-links") && !(c.id == "nftables-flush" && (id == "nat-state" || id == "exposure")) {
					t.Errorf("doctor with %s broken also failed %s: %s", c.id, id, other.Summary)
				}
			}
			t.Logf("%s: %s (fix: %s)", c.id, got.Summary, strings.SplitN(got.Remedy, "\n", 2)[0])
			if err := c.fix(); err != nil {
				t.Fatalf("restore %s: %v", c.id, err)
			}
		})
	}
}
