package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// ipv6ForwardingDropIn is the networkd.conf drop-in nspawnctl owns on
// systemd 256 and later (networkd.ForwardingDropInPath).
const ipv6ForwardingDropIn = "/etc/systemd/networkd.conf.d/nspawnctl-ipv6-forwarding.conf"

// sysctlIn reads a sysctl of the test host's network namespace.
func sysctlIn(ctx context.Context, h *testhost.Host, key string) string {
	out, _, _ := h.Exec(ctx, "cat", "/proc/sys/"+strings.ReplaceAll(key, ".", "/"))
	return strings.TrimSpace(out)
}

// TestIPv6ForwardingRouted: a routed global prefix with masquerade =
// "ipv4" as the host's only machine, so that no other link's IPMasquerade=
// turns IPv6 forwarding on as a side effect (systemd 256 and later do that
// for IPv6 masquerading), and on a test host that sets no forwarding
// sysctl of its own. systemd 252 turns all.forwarding on from the host
// side's IPForward=yes; 256 and later ignore IPForward= and take the global
// switch from networkd.conf, where nspawnctl puts a drop-in for as long as
// such a machine exists. Both ways the client reaches the container and the
// container the client, unmasqueraded; remove takes the drop-in away.
func TestIPv6ForwardingRouted(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	newer := h.Suite().Systemd >= 256
	if v := sysctlIn(ctx, h, "net.ipv6.conf.all.forwarding"); v != "0" {
		t.Fatalf("the test host starts with net.ipv6.conf.all.forwarding = %q, want 0: the scenario would prove nothing", v)
	}
	config := fmt.Sprintf(`machine "r6" {
  %s
  network {
    host {
      ipv6_prefix {
        prefix = "2001:db8:8::/64"
        assign = true
      }
      masquerade = "ipv4"
    }
    container {
      address = ["2001:db8:8::2/64"]
    }
  }
}
`, webRoot)
	createMachines(t, ctx, h, "r6", config, "r6")

	timed(t, "forwarding switched on", func() {
		drop, _, err := h.Exec(ctx, "cat", ipv6ForwardingDropIn)
		switch {
		case newer && (err != nil || !strings.Contains(drop, "IPv6Forwarding=yes")):
			t.Errorf("systemd %d: %s = %q (%v), want IPv6Forwarding=yes", h.Suite().Systemd, ipv6ForwardingDropIn, drop, err)
		case !newer && err == nil:
			t.Errorf("systemd %d: %s exists, want none (IPForward= in the .network file does it)", h.Suite().Systemd, ipv6ForwardingDropIn)
		}
		if v := sysctlIn(ctx, h, "net.ipv6.conf.all.forwarding"); v != "1" {
			t.Errorf("net.ipv6.conf.all.forwarding = %q after create, want 1", v)
		}
	})
	timed(t, "routed prefix both ways", func() {
		// Nothing is masqueraded: only forwarding (and the client's route
		// back) carries either direction.
		routedBothWays(t, ctx, h, "r6", netip.MustParsePrefix("2001:db8:8::2/64"))
	})
	timed(t, "doctor forwarding-ipv6", func() {
		_, checks, _ := runDoctor(t, ctx, h)
		if c := checks["forwarding-ipv6"]; c.Status != "ok" {
			t.Errorf("doctor forwarding-ipv6 = %s: %s", c.Status, c.Summary)
		}
	})
	timed(t, "networkd restart keeps it", func() {
		mustRun(t, ctx, h, "systemctl", "restart", "systemd-networkd.service")
		_, err := testhost.Until(ctx, 30*time.Second, 200*time.Millisecond, "r6 -> client after a networkd restart", func(ctx context.Context) error {
			r := h.Run(ctx, "nspawnctl", "shell", "r6", "--", "busybox", "ping", "-c", "1", "-W", "1", testhost.ClientIPv6)
			if r.Code != 0 {
				return fmt.Errorf("%s", r)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	timed(t, "remove takes the drop-in", func() {
		mustNspawnctl(t, ctx, h, "remove", "r6")
		if _, _, err := h.Exec(ctx, "test", "!", "-e", ipv6ForwardingDropIn); err != nil {
			t.Errorf("remove r6 left %s behind", ipv6ForwardingDropIn)
		}
	})
}
