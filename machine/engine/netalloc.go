package engine

import (
	"net/netip"

	"github.com/nspawnctl/nspawnctl/machine/resolve"
)

// zoneAllocations returns the subnets of the zone machine rm is a member
// of, keyed as validation allocates them ("zone/NAME/ipv4", ".../ipv6").
// Each member records them, so that they stay pinned while any member
// exists: without that, the zone's own addresses on vz-NAME count as taken
// host addresses at the next member's create, and the zone moves to
// another subnet under its running members.
func zoneAllocations(r *resolve.Resolved, rm *resolve.ResolvedMachine) map[string]netip.Prefix {
	out := map[string]netip.Prefix{}
	for _, z := range r.Zones {
		if z.Name != rm.Zone {
			continue
		}
		for _, a := range z.Addrs {
			fam := "ipv6"
			if a.Addr().Is4() {
				fam = "ipv4"
			}
			out["zone/"+z.Name+"/"+fam] = a.Masked()
		}
	}
	return out
}
