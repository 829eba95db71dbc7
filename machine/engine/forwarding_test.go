package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/state"
	"github.com/nspawnctl/nspawnctl/networkd"
)

const routedConfig = `machine "r1" {
  network {
    host {
      ipv6_prefix {
        prefix = "2001:db8:8::/64"
        assign = true
      }
      masquerade = "ipv4"
    }
  }
}

machine "r2" {
  network {
    host {
      masquerade = "no"
    }
  }
}

machine "plain" {}
`

// forwardingHost is a test Manager on systemd ver, with both forwarding
// sysctls at 0 under its file system root and a root for every machine of
// routedConfig.
func forwardingHost(t *testing.T, ver int) *Manager {
	t.Helper()
	m, _, _ := testManager(t)
	m.Systemd = func(context.Context) (int, error) { return ver, nil }
	for _, f := range []string{networkd.IPv4, networkd.IPv6} {
		p := m.host(filepath.Join("/proc/sys", networkd.ForwardingSysctl(f)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"r1", "r2", "plain"} {
		if err := os.MkdirAll(m.host("/var/lib/machines/"+n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m *Manager) sysctlValue(t *testing.T, family string) string {
	t.Helper()
	b, err := os.ReadFile(m.host(filepath.Join("/proc/sys", networkd.ForwardingSysctl(family))))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (m *Manager) exists(p string) bool {
	_, err := os.Lstat(m.host(p))
	return err == nil
}

// TestForwardingDropInsFollowTheirMachines: on systemd 256 and later a
// machine whose masquerade leaves a family out brings the drop-in of that
// family and switches its sysctl on; a drop-in goes with the last machine
// that needs it. A machine masquerading both families needs none.
func TestForwardingDropInsFollowTheirMachines(t *testing.T) {
	m := forwardingHost(t, 257)
	r := resolveSource(t, routedConfig)
	ctx := context.Background()
	v4, v6 := networkd.ForwardingDropInPath(networkd.IPv4), networkd.ForwardingDropInPath(networkd.IPv6)

	if err := m.Create(ctx, r, "plain", CreateOptions{Ownership: state.OwnerImperative}); err != nil {
		t.Fatal(err)
	}
	if m.exists(v4) || m.exists(v6) || m.sysctlValue(t, networkd.IPv6) != "0" {
		t.Fatal("a machine masquerading both families brought a forwarding drop-in or changed a sysctl")
	}
	if err := m.Create(ctx, r, "r1", CreateOptions{Ownership: state.OwnerImperative}); err != nil {
		t.Fatal(err)
	}
	if !m.exists(v6) || m.exists(v4) {
		t.Errorf("masquerade = ipv4: drop-ins ipv6 %v, ipv4 %v; want only ipv6", m.exists(v6), m.exists(v4))
	}
	if got := m.sysctlValue(t, networkd.IPv6); got != "1" {
		t.Errorf("IPv6 forwarding = %s after create, want 1", got)
	}
	if err := m.Create(ctx, r, "r2", CreateOptions{Ownership: state.OwnerImperative}); err != nil {
		t.Fatal(err)
	}
	if !m.exists(v4) || m.sysctlValue(t, networkd.IPv4) != "1" {
		t.Error("masquerade = no: no IPv4 drop-in or IPv4 forwarding off")
	}
	if err := m.Remove(ctx, "r1", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if !m.exists(v6) {
		t.Error("removing r1 took the IPv6 drop-in r2 still needs")
	}
	if err := m.Remove(ctx, "r2", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if m.exists(v4) || m.exists(v6) {
		t.Error("the last machine that needed them is gone, the drop-ins are not")
	}
}

// TestForwardingOnSystemd252: IPForward= in the .network file does it; no
// drop-in, no sysctl written by nspawnctl.
func TestForwardingOnSystemd252(t *testing.T) {
	m := forwardingHost(t, 252)
	r := resolveSource(t, routedConfig)
	if err := m.Create(context.Background(), r, "r1", CreateOptions{Ownership: state.OwnerImperative}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(m.host("/etc/systemd/network/20-ve-r1.network"))
	if err != nil || !strings.Contains(string(b), "IPForward=yes") {
		t.Errorf("20-ve-r1.network has no IPForward=yes (%v)", err)
	}
	if m.exists(networkd.ConfDropInDir) || m.sysctlValue(t, networkd.IPv6) != "0" {
		t.Error("systemd 252: a networkd.conf drop-in was written or the sysctl changed")
	}
}

// TestForwardingPlanShowsTheDropIn: what plan shows is what apply writes,
// and a drop-in needs no restart of a running machine.
func TestForwardingPlanShowsTheDropIn(t *testing.T) {
	m := forwardingHost(t, 262)
	r := resolveSource(t, routedConfig)
	plans, err := m.Plan(context.Background(), r, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, p := range plans {
		for _, f := range p.Files {
			if f.Path == networkd.ForwardingDropInPath(networkd.IPv6) && p.Name == "r1" {
				found = true
				if f.Effect != EffectNone {
					t.Errorf("the drop-in's effect = %s, want none", f.Effect)
				}
			}
		}
	}
	if !found {
		t.Errorf("plan of r1 does not add %s", networkd.ForwardingDropInPath(networkd.IPv6))
	}
}
