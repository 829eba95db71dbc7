package resolve

import (
	"github.com/nspawnctl/nspawnctl/internal/diag"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// prefixDelegation checks a prefix_delegation block of a machine's host
// side or of a zone and returns its settings (nil without a block).
func (v *validator) prefixDelegation(pd *config.PrefixDelegation) *networkd.PrefixDelegation {
	if pd == nil {
		return nil
	}
	if pd.Uplink != "" && pd.Uplink != ":auto" && pd.Uplink != ":self" && !validIfname(pd.Uplink) {
		v.errf(diag.Attr(pd.Body, "uplink", pd.DefRange), "Invalid uplink", "uplink %q is not an interface name, \":auto\" or \":self\".", pd.Uplink)
	}
	if pd.SubnetID != "" && !hexRE.MatchString(pd.SubnetID) {
		v.errf(diag.Attr(pd.Body, "subnet_id", pd.DefRange), "Invalid subnet ID", "subnet_id %q must be a hexadecimal number such as \"0x1\" or \"2a\".", pd.SubnetID)
	}
	return &networkd.PrefixDelegation{Uplink: pd.Uplink, SubnetID: pd.SubnetID}
}
