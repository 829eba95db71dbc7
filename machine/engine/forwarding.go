package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// systemdVersion is the host's systemd major version, 0 when unknown.
func (m *Manager) systemdVersion(ctx context.Context) int {
	if m.Systemd == nil {
		return 0
	}
	v, err := m.Systemd(ctx)
	if err != nil {
		m.logf("warning: %v; rendering for systemd before %d", err, networkd.GlobalForwardingSince)
		return 0
	}
	return v
}

// switchOnForwarding sets the global forwarding switch of every family
// whose drop-in is among arts. networkd reads networkd.conf only when it
// starts, and restarting it to apply the drop-in would reconfigure every
// link of the host; so nspawnctl does at once what networkd does with the
// drop-in at its next start (write all.forwarding, which the kernel copies
// to every link and to the default for new ones).
func (m *Manager) switchOnForwarding(arts []render.Artifact) error {
	for _, f := range []string{networkd.IPv4, networkd.IPv6} {
		if !hasArtifact(arts, networkd.ForwardingDropInPath(f)) {
			continue
		}
		p := m.host(path.Join("/proc/sys", networkd.ForwardingSysctl(f)))
		cur, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) && f == networkd.IPv6 {
			continue // IPv6 disabled on this host: nothing to forward
		}
		if err == nil && strings.TrimSpace(string(cur)) == "1" {
			continue
		}
		if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("turning on %s forwarding (%s, as %s says): %w; set it to 1 or restart systemd-networkd",
				f, strings.ReplaceAll(networkd.ForwardingSysctl(f), "/", "."), networkd.ForwardingDropInPath(f), err)
		}
		m.logf("turned on %s forwarding (%s = 1)", f, strings.ReplaceAll(networkd.ForwardingSysctl(f), "/", "."))
	}
	return nil
}

func hasArtifact(arts []render.Artifact, p string) bool {
	for _, a := range arts {
		if a.Path == p {
			return true
		}
	}
	return false
}
