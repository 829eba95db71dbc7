package machine

import (
	"path"

	"github.com/nspawnctl/nspawnctl/networkd"
	"github.com/nspawnctl/nspawnctl/networkd/renumber"
)

// delegatedLink is the host-side link of m that takes a /64 of an uplink's
// DHCPv6 prefix delegation: the machine's own ve- link, or the vz- bridge
// of a zone with a prefix_delegation block; "" when there is none.
func delegatedLink(r *Resolved, m *ResolvedMachine) string {
	switch m.Mode {
	case networkd.ModeVeth:
		if n := m.Spec.Network; n != nil && n.Host != nil && n.Host.PrefixDelegation != nil {
			return m.HostLink
		}
	case networkd.ModeZone:
		for _, z := range r.Zones {
			if z.Name == m.Zone && z.Spec.PrefixDelegation != nil {
				return z.Link
			}
		}
	}
	return ""
}

// prefixDelegationArtifacts installs the template unit that deprecates the
// link's stale delegated prefixes after a renumbering. Every machine with a
// delegated link records it; it goes with the last of them.
func prefixDelegationArtifacts(unitDir, binary, owner string) []Artifact {
	return []Artifact{{Path: path.Join(unitDir, renumber.UnitTemplate), Content: []byte(renumber.Unit(binary)), Mode: 0o644, Owner: owner}}
}
