package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Zone is a `zone "NAME"` block: the host side of vz-NAME, shared by every
// machine whose network names the zone.
type Zone struct {
	Name string `hcl:"name,label"`
	// Address lists the bridge's addresses; empty: a /24 from Pool.
	Address []string `hcl:"address,optional"`
	// Pool is the IPv4 pool a /24 is allocated from when Address has no IPv4 address.
	Pool string `hcl:"pool,optional"`
	// ULA gives the zone a /64 from the host's ULA /48 (default true).
	ULA *bool `hcl:"ula,optional"`
	// DHCPServer runs networkd's DHCPv4 server on the zone (default true).
	DHCPServer *bool `hcl:"dhcp_server,optional"`
	// LLMNR answers and resolves LLMNR on the zone (default true).
	LLMNR *bool `hcl:"llmnr,optional"`
	// MulticastDNS answers and resolves mDNS on the zone (default false).
	MulticastDNS *bool `hcl:"mdns,optional"`
	// Masquerade is networkd's IPMasquerade= (ipv4, ipv6, both, no; default both).
	Masquerade string `hcl:"masquerade,optional"`
	// PrefixDelegation gives the zone a /64 of an uplink's DHCPv6 prefix
	// delegation, announced to every member (DHCPPrefixDelegation=).
	PrefixDelegation *PrefixDelegation `hcl:"prefix_delegation,block"`
	// DirectRouting is the members' default for network.direct_routing.
	DirectRouting bool `hcl:"direct_routing,optional"`
	// Isolated is the members' default for network.isolated: no new
	// connections between the zone and the host's other machine links.
	Isolated bool `hcl:"isolated,optional"`
	// Extra is a raw pass-through: { Section = { Key = value or [values] } }.
	Extra cty.Value `hcl:"extra,optional"`

	Body       hcl.Body  `hcl:",body"`
	DefRange   hcl.Range `hcl:",def_range"`
	LabelRange hcl.Range `hcl:"name,label_range"`
}

// Bridge is a `bridge "NAME"` block: a bridge nspawnctl creates with a
// .netdev and configures with a .network, as opposed to an existing bridge
// named in a machine's network block.
type Bridge struct {
	Name string `hcl:"name,label"`
	// Address lists the bridge's own addresses (none: the bridge is a plain L2 switch).
	Address []string `hcl:"address,optional"`
	// Uplink is a host interface enslaved to the bridge, connecting it to a LAN.
	Uplink string `hcl:"uplink,optional"`
	// DHCP makes the bridge a DHCP client on its LAN (networkd's DHCP=).
	DHCP string `hcl:"dhcp,optional"`
	// DHCPServer runs networkd's DHCPv4 server on the bridge (default false).
	DHCPServer *bool `hcl:"dhcp_server,optional"`
	// Masquerade is networkd's IPMasquerade= (default no).
	Masquerade string `hcl:"masquerade,optional"`
	// Extra is a raw pass-through for the .network file.
	Extra cty.Value `hcl:"extra,optional"`
	// NetdevExtra is a raw pass-through for the .netdev file.
	NetdevExtra cty.Value `hcl:"netdev_extra,optional"`

	Body       hcl.Body  `hcl:",body"`
	DefRange   hcl.Range `hcl:",def_range"`
	LabelRange hcl.Range `hcl:"name,label_range"`
}
