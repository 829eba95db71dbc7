package networkd

import (
	"cmp"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
)

// SetPrefixDelegation writes a prefix_delegation block into a downstream
// link's .network file (a machine's ve- link or a zone's vz- bridge):
// networkd takes a /64 of the uplink's delegated prefix for the link,
// assigns the link an address in it and announces it in router
// advertisements, so the containers configure global addresses by SLAAC.
func SetPrefixDelegation(b *unitfile.Builder, pd *PrefixDelegation) {
	if pd == nil {
		return
	}
	b.Set("Network", "DHCPPrefixDelegation", "yes")
	b.Set("DHCPPrefixDelegation", "UplinkInterface", cmp.Or(pd.Uplink, ":auto"))
	b.Set("DHCPPrefixDelegation", "SubnetId", pd.SubnetID)
	b.Set("DHCPPrefixDelegation", "Announce", "yes")
}
