package resolve

import (
	"net/netip"

	"github.com/nspawnctl/nspawnctl/internal/diag"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// Exposure: what other hosts and machines can reach of a machine. By
// default a machine on the host's private networks (veth, zone) is reached
// from outside the host only through its forwards (nat/protect.go). The
// network block's direct_routing opens its private addresses to routed
// connections; isolated closes it to the host's other machine links. A
// zone's settings are its members' defaults.

// exposure resolves direct_routing and isolated for the machine: the
// network block's for a veth machine, the zone's for a zone member.
func (v *validator) exposure(m *config.Machine, rm *ResolvedMachine) {
	if rm.Mode == networkd.ModeZone {
		if z := v.zone(rm.Zone); z != nil {
			rm.DirectRouting, rm.Isolated = z.DirectRouting, z.Isolated
		}
	}
	n := m.Network
	if n == nil {
		return
	}
	for _, s := range []struct {
		attr string
		val  *bool
		dst  *bool
	}{{"direct_routing", n.DirectRouting, &rm.DirectRouting}, {"isolated", n.Isolated, &rm.Isolated}} {
		if s.val == nil {
			continue
		}
		if rm.Mode == networkd.ModeZone {
			// The protections act per link, and a zone's members share it.
			v.errf(diag.Attr(n.Body, s.attr, n.DefRange), "Setting belongs to the zone",
				"%s applies per link, and the members of zone %q share one: set %s in the zone %q block, for all its members.", s.attr, rm.Zone, s.attr, rm.Zone)
			continue
		}
		if rm.Mode != networkd.ModeVeth {
			v.errf(diag.Attr(n.Body, s.attr, n.DefRange), "Setting needs a private network",
				"%s applies to machines on the host's private networks (mode veth, or a zone's setting for its members). Mode %q puts %s on a network nspawnctl does not filter: remove %s, or control that network with its own firewall.",
				s.attr, rm.Mode, m.Name, s.attr)
			continue
		}
		*s.dst = *s.val
	}
}

// ProtectedAddrs are the machine's addresses the protections know: its
// static addresses on a veth link or in a zone. Bridges, macvlan, ipvlan and
// host networking are on networks the user routes; nothing is filtered there.
func (rm *ResolvedMachine) ProtectedAddrs() []netip.Addr {
	if rm.Mode != networkd.ModeVeth && rm.Mode != networkd.ModeZone {
		return nil
	}
	var out []netip.Addr
	for _, p := range rm.ContainerAddrs {
		out = append(out, p.Addr())
	}
	return out
}
