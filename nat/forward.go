// Package nat installs nspawnctl's port forwards inside systemd's own NAT
// tables, "ip io.systemd.nat" and "ip6 io.systemd.nat".
//
// The package has three layers:
//
//   - a pure model: [Plan] turns the machines' forwards into a [Ruleset],
//     which renders as nft text ([Ruleset.Text]) exactly as "nft list
//     ruleset" prints the kernel state it describes;
//   - an [Applier] that reconciles the kernel with a Ruleset through one
//     google/nftables netlink batch, touching only objects named
//     "nspawnctl..." (systemd's chains, sets, maps and elements are never
//     modified or deleted);
//   - a [Store] with the desired state on disk, from which [Restore] brings
//     the forwards back after a firewall reload flushed the ruleset.
//
// See README.md in this directory for the nft layout and its reasons.
package nat

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// PortRange is an inclusive range of ports; First == Last for a single port.
type PortRange struct{ First, Last uint16 }

// Len returns how many ports the range holds.
func (r PortRange) Len() int { return int(r.Last) - int(r.First) + 1 }

// String formats the range as nft and nspawn users write it: "80" or "8000-8010".
func (r PortRange) String() string {
	if r.First == r.Last {
		return fmt.Sprint(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Forward is one resolved port forward of one machine.
type Forward struct {
	Protocol    string         // "tcp" or "udp"
	HostAddr    netip.Addr     // zero Addr: any local address of the host (like nspawn's Port=); else only this address
	HostPorts   PortRange      // ports on the host
	Target      netip.Addr     // the container's address; its family picks the ip or ip6 table
	TargetPorts PortRange      // same length as HostPorts (a shifted range 8000-8010 -> 80-90 is allowed)
	AllowFrom   []netip.Prefix // empty: any source; else only these sources (a forward does not apply to others)
}

// Machine is what nat needs to know about one machine.
type Machine struct {
	Name     string    // machine name
	Link     string    // host-side interface of the machine's private network (ve-..., vb-..., or the vz-/bridge it sits on)
	Forwards []Forward // the machine's forwards, in any order
	// Masquerade are the machine's networks whose outbound connections
	// through Link are masqueraded: the prefixes networkd's IPMasquerade=
	// puts into masq_saddr for it (masquerade.go). Empty: no outbound NAT.
	Masquerade []netip.Prefix `json:",omitempty"`
	// Addrs are the machine's own addresses on Link (protect.go): how the
	// protections recognise traffic from this machine, and which private
	// addresses only forwards reach from outside the host.
	Addrs []netip.Addr `json:",omitempty"`
	// Direct opens the machine's private addresses to new connections from
	// outside the host (direct routing); by default only forwards reach them.
	Direct bool `json:",omitempty"`
	// Isolated forbids new connections between this machine and machines on
	// other links of the host, except through forwards.
	Isolated bool `json:",omitempty"`
}

// String describes the forward for error messages, e.g. "tcp 203.0.113.2:8080 -> 10.0.0.2:80".
func (f Forward) String() string {
	host := "*"
	if f.HostAddr.IsValid() {
		host = f.HostAddr.String()
		if f.HostAddr.Is6() {
			host = "[" + host + "]"
		}
	}
	target := f.Target.String()
	if f.Target.Is6() {
		target = "[" + target + "]"
	}
	return fmt.Sprintf("%s %s:%s -> %s:%s", f.Protocol, host, f.HostPorts, target, f.TargetPorts)
}

// protoNumber maps the protocol names nspawnctl accepts to IP protocol numbers.
var protoNumber = map[string]uint8{"tcp": 6, "udp": 17}

// protoName is the inverse of protoNumber, as nft prints the numbers.
func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	}
	return fmt.Sprint(p)
}

// maxLinkName is IFNAMSIZ-1: the kernel's limit, which the ifname key also has.
const maxLinkName = 15

// Validate checks the machine's name, link and every forward on their own; the
// conflicts between forwards are checked by Plan. Errors name the machine and
// the forward and say what to change.
func (m Machine) Validate() error {
	if m.Name == "" || len(m.Name) > 64 || strings.IndexFunc(m.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		// The name becomes an nft comment and a file name in the store, so it
		// is held to machined's character set.
		return machineErrorf(m.Name, "machine %q: invalid name: use 1-64 characters from a-z, A-Z, 0-9, '-', '_' and '.'", m.Name)
	}
	if (len(m.Forwards) > 0 || len(m.Masquerade) > 0 || len(m.Addrs) > 0) && (m.Link == "" || len(m.Link) > maxLinkName || strings.ContainsAny(m.Link, "\"/ \t\n")) {
		return machineErrorf(m.Name, "machine %q: invalid host-side link name %q: give the interface (1-15 characters) the machine's traffic arrives on, e.g. ve-%s", m.Name, m.Link, m.Name)
	}
	for _, f := range m.Forwards {
		if err := f.validate(); err != nil {
			return machineErrorf(m.Name, "machine %q: forward %s: %w", m.Name, f, err)
		}
	}
	if err := m.validateMasquerade(); err != nil {
		return err
	}
	return m.validateProtection()
}

func (f Forward) validate() error {
	if _, ok := protoNumber[f.Protocol]; !ok {
		return fmt.Errorf("protocol %q is not supported: use tcp or udp", f.Protocol)
	}
	if f.HostPorts.First == 0 || f.HostPorts.First > f.HostPorts.Last {
		return fmt.Errorf("host ports %d-%d: give ports 1-65535 with first <= last", f.HostPorts.First, f.HostPorts.Last)
	}
	if f.TargetPorts.First == 0 || f.TargetPorts.First > f.TargetPorts.Last {
		return fmt.Errorf("target ports %d-%d: give ports 1-65535 with first <= last", f.TargetPorts.First, f.TargetPorts.Last)
	}
	if f.HostPorts.Len() != f.TargetPorts.Len() {
		return fmt.Errorf("host ports %s and target ports %s differ in length: give ranges of the same size", f.HostPorts, f.TargetPorts)
	}
	if !f.Target.IsValid() || f.Target.IsUnspecified() || f.Target.Is4In6() || f.Target.Zone() != "" || f.Target.IsLoopback() || f.Target.IsMulticast() {
		return fmt.Errorf("target address %v: give the container's unicast IPv4 or IPv6 address", f.Target)
	}
	if f.HostAddr.IsValid() {
		if f.HostAddr.Is4() != f.Target.Is4() || f.HostAddr.Is4In6() || f.HostAddr.Zone() != "" || f.HostAddr.IsUnspecified() || f.HostAddr.IsMulticast() {
			return fmt.Errorf("host address %v: give a unicast host address of the target's family, or none for any local address", f.HostAddr)
		}
		if f.HostAddr == netip.IPv6Loopback() {
			// See README.md "Why not ::1": the kernel never lets ::1 leave lo.
			return fmt.Errorf("host address ::1 cannot be forwarded: Linux has no route_localnet for IPv6; bind to 127.0.0.1 or a non-loopback address")
		}
	}
	for i, p := range f.AllowFrom {
		if !p.IsValid() || p.Addr().Is4() != f.Target.Is4() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return fmt.Errorf("allowed source %v: give a prefix of the target's family", p)
		}
		if p != p.Masked() {
			return fmt.Errorf("allowed source %v has host bits set: write %v", p, p.Masked())
		}
		for _, q := range f.AllowFrom[:i] {
			if q.Overlaps(p) {
				return fmt.Errorf("allowed sources %v and %v overlap: list each source once", q, p)
			}
		}
	}
	return nil
}

// sortedMachines returns the machines ordered by name, so that every output
// derived from them is deterministic.
func sortedMachines(ms []Machine) []Machine {
	out := slices.Clone(ms)
	slices.SortStableFunc(out, func(a, b Machine) int { return strings.Compare(a.Name, b.Name) })
	return out
}
