package render

import (
	"net/netip"

	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/nat"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// NATMachine is what nat needs of a machine: its forwards and the networks
// whose outbound connections are masqueraded.
func NATMachine(r *resolve.Resolved, rm *resolve.ResolvedMachine) nat.Machine {
	return nat.Machine{Name: rm.Name, Link: rm.NATLink, Forwards: rm.Forwards, Masquerade: masqueradePrefixes(r, rm),
		Addrs: rm.ProtectedAddrs(), Direct: rm.DirectRouting, Isolated: rm.Isolated}
}

// NeedsNAT reports whether a machine needs anything in io.systemd.nat, and
// so the nat up/down hooks, a NAT record and the restore unit.
func NeedsNAT(nm nat.Machine) bool {
	return len(nm.Forwards) > 0 || len(nm.Masquerade) > 0 || len(nm.Addrs) > 0
}

// masqueradePrefixes are the networks networkd's IPMasquerade= masquerades
// for the machine (the families its masquerade setting names, global
// addresses only, systemd.md 1.7), which nspawnctl keeps in nspawnctl_masq
// as well so that a firewall reload does not end outbound NAT:
//   - veth: the host side's prefixes, as networkd puts them into masq_saddr;
//   - zone or bridge member: the member's own addresses (full length). The
//     zone's prefix is shared by its members, and an element per member
//     lets each come and go on its own.
func masqueradePrefixes(r *resolve.Resolved, rm *resolve.ResolvedMachine) []netip.Prefix {
	var setting networkd.Masquerade
	var candidates []netip.Prefix
	switch {
	case rm.HostLink != "" && rm.Zone == "" && rm.Bridge == "":
		setting = rm.HostSide.Masquerade
		for _, p := range rm.HostAddrs {
			candidates = append(candidates, p.Masked())
		}
	case rm.Zone != "":
		for _, z := range r.Zones {
			if z.Name == rm.Zone {
				setting = z.Masquerade
			}
		}
		candidates = memberAddrs(rm)
	case rm.Bridge != "":
		setting = networkd.MasqueradeNo // a bridge not declared here: networkd's own files decide
		for _, b := range r.Bridges {
			if b.Name == rm.Bridge && len(b.Addrs) > 0 {
				setting = b.Masquerade
			}
		}
		candidates = memberAddrs(rm)
	}
	var out []netip.Prefix
	for _, p := range candidates {
		a := p.Addr()
		if a.IsLinkLocalUnicast() || a.IsLoopback() || p.Bits() == 0 || (a.Is6() && p.Bits() < 8) {
			continue
		}
		if setting.Names(a.Is4()) {
			out = append(out, p)
		}
	}
	return out
}

func memberAddrs(rm *resolve.ResolvedMachine) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range rm.ContainerAddrs {
		out = append(out, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	}
	return out
}

// MasqueradeLines describes a machine's outbound NAT as plan shows it.
func MasqueradeLines(nm nat.Machine) []string {
	var out []string
	for _, p := range nm.Masquerade {
		out = append(out, "outbound NAT of "+p.String()+" via "+nm.Link)
	}
	return out
}

// ExposureLines describes the machine's protections as plan shows them,
// one line per address and one for isolation.
func ExposureLines(nm nat.Machine) []string {
	var out []string
	for _, a := range nm.Addrs {
		if a.IsPrivate() && !nm.Direct {
			out = append(out, "only forwards reach "+a.String()+" from other hosts")
		} else {
			out = append(out, a.String()+" reachable directly from other hosts")
		}
	}
	if nm.Isolated {
		out = append(out, "isolated from machines on other links")
	}
	return out
}
