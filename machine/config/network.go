package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Network is a machine's `network` block: how the container is connected and
// how both ends of its link are configured. Its names mirror the NixOS options
// of nixos-nspawn (zone, bridge, hostNetworkConfig, containerNetworkConfig).
type Network struct {
	// Mode is one of networkd.Modes. Empty means: derived from zone/bridge/macvlan/ipvlan, else veth.
	Mode string `hcl:"mode,optional"`
	// Zone names a zone (a `zone` block, or a vz- bridge that nspawn manages).
	Zone string `hcl:"zone,optional"`
	// Bridge names an existing bridge on the host, or a declared `bridge` block.
	Bridge string `hcl:"bridge,optional"`
	// Macvlan lists host interfaces to create a macvlan on.
	Macvlan []string `hcl:"macvlan,optional"`
	// Ipvlan lists host interfaces to create an ipvlan on.
	Ipvlan []string `hcl:"ipvlan,optional"`
	// Host configures the host side of a veth link (hostNetworkConfig).
	Host *HostConfig `hcl:"host,block"`
	// Container configures the container's interface (containerNetworkConfig).
	Container *ContainerConfig `hcl:"container,block"`
	// DirectRouting lets other hosts open connections to the container's
	// private addresses directly (veth only, a zone has its own setting;
	// default false, so that only forwards reach the container from outside).
	DirectRouting *bool `hcl:"direct_routing,optional"`
	// Isolated forbids new connections between the container and machines
	// on other links of the host, except through forwards (veth only, a
	// zone has its own setting; default false).
	Isolated *bool `hcl:"isolated,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

// HostConfig is the host side of a machine's veth link: the ve-NAME interface.
type HostConfig struct {
	// Address lists the host side's addresses in CIDR form. Empty: allocated from Pool.
	Address []string `hcl:"address,optional"`
	// Pool is the IPv4 pool a /28 is allocated from when Address has no IPv4 address.
	Pool string `hcl:"pool,optional"`
	// IPv6Prefix blocks announce (and with assign, add) IPv6 prefixes on the link.
	IPv6Prefix []IPv6Prefix `hcl:"ipv6_prefix,block"`
	// ULA gives the link a /64 from the host's ULA /48 (default true).
	ULA *bool `hcl:"ula,optional"`
	// Masquerade is networkd's IPMasquerade= (ipv4, ipv6, both, no; default both).
	Masquerade string `hcl:"masquerade,optional"`
	// DHCPServer runs networkd's DHCPv4 server on the link (default true).
	DHCPServer *bool `hcl:"dhcp_server,optional"`
	// PrefixDelegation takes a subnet of an uplink's DHCPv6 prefix delegation (DHCPPrefixDelegation=).
	PrefixDelegation *PrefixDelegation `hcl:"prefix_delegation,block"`
	// ProxyNDP lists uplinks on which the container's IPv6 addresses are answered by proxy NDP.
	ProxyNDP []string `hcl:"proxy_ndp,optional"`
	// Extra is a raw pass-through: { Section = { Key = value or [values] } } merged into the .network file.
	Extra cty.Value `hcl:"extra,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

// IPv6Prefix is an `ipv6_prefix` block: networkd's [IPv6Prefix] section.
type IPv6Prefix struct {
	// Prefix is the prefix to announce, at most /64 long when Assign is set.
	Prefix string `hcl:"prefix"`
	// Assign adds an address from the prefix to the host side (needs systemd 246).
	Assign bool `hcl:"assign,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

// PrefixDelegation is a `prefix_delegation` block: networkd's
// DHCPPrefixDelegation= with its [DHCPPrefixDelegation] section.
type PrefixDelegation struct {
	// Uplink is the interface that receives the delegated prefix (":auto" when empty).
	Uplink string `hcl:"uplink,optional"`
	// SubnetID picks the subnet of the delegated prefix (hexadecimal, optional).
	SubnetID string `hcl:"subnet_id,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

// ContainerConfig is the container side: host0 (or the macvlan/ipvlan link).
type ContainerConfig struct {
	// Address lists static addresses; empty: the allocated container address (veth) or DHCP.
	Address []string `hcl:"address,optional"`
	// Gateway lists default gateways; empty: the host side's addresses (veth).
	Gateway []string `hcl:"gateway,optional"`
	// DHCP is networkd's DHCP= (yes, no, ipv4, ipv6); default no when addresses are static.
	DHCP string `hcl:"dhcp,optional"`
	// DNS lists DNS servers for the container.
	DNS []string `hcl:"dns,optional"`
	// LLMNR is networkd's LLMNR= on the link (default yes).
	LLMNR *bool `hcl:"llmnr,optional"`
	// MulticastDNS is networkd's MulticastDNS= on the link (default no).
	MulticastDNS *bool `hcl:"mdns,optional"`
	// Extra is a raw pass-through like HostConfig.Extra.
	Extra cty.Value `hcl:"extra,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}
