package networkd

import (
	"cmp"
	"net"
	"net/netip"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
)

// FilePrefix is the number that makes nspawnctl's .network files sort before
// systemd's own 80-container-*.network: networkd applies the first matching
// file in lexical order, so ours must come first to take effect.
const FilePrefix = "20-"

// HostVeth is everything the host side .network file of a veth machine says.
type HostVeth struct {
	Machine string
	// Name is the (possibly shortened) ve- name; networkd matches altnames too.
	Name string
	// Addrs are the host side's addresses (host bits set).
	Addrs []netip.Prefix
	// Announce are prefixes announced in router advertisements without being
	// assigned to the host (ULA /64 of the link, user prefixes with assign = false).
	Announce []netip.Prefix
	// Assign are prefixes announced and assigned (networkd [IPv6Prefix] Assign=yes).
	Assign     []netip.Prefix
	Masquerade Masquerade
	DHCPServer bool
	// StaticLease pins the container's IPv4 address to its deterministic MAC.
	StaticLease *Lease
	// PrefixDelegation enables DHCPPrefixDelegation= (nil: off).
	PrefixDelegation *PrefixDelegation
	// Routes are host routes to container addresses that no host-side
	// prefix covers (proxy NDP: the address lies in the uplink's on-link
	// /64, so without a more specific route the host would look for it there).
	Routes []netip.Prefix
	Extra  []unitfile.Option
}

// Lease is a DHCP server static lease.
type Lease struct {
	MAC  net.HardwareAddr
	Addr netip.Addr
}

func header(what string) []string {
	return []string{
		"Managed by nspawnctl for " + what + ".",
		"Do not edit: nspawnctl rewrites or removes this file.",
	}
}

// RenderHostVeth renders the host side .network file of a veth machine.
func RenderHostVeth(h HostVeth) ([]byte, error) {
	b := unitfile.New(header("machine " + h.Machine)...)
	b.Set("Match", "Name", h.Name)
	b.Set("Network", "Address", unitfile.Strings(h.Addrs)...)
	b.Set("Network", "LinkLocalAddressing", "yes")
	b.Bool("Network", "DHCPServer", h.DHCPServer)
	b.Set("Network", "IPMasquerade", string(cmp.Or(h.Masquerade, MasqueradeBoth)))
	if Forwarding(h.Masquerade) {
		b.Set("Network", "IPForward", "yes")
	}
	b.Set("Network", "LLDP", "yes")
	b.Set("Network", "EmitLLDP", "customer-bridge")
	b.Set("Network", "IPv6AcceptRA", "no")
	b.Set("Network", "IPv6SendRA", "yes")
	for _, r := range h.Routes {
		b.AddSection("Route")
		b.Set("Route", "Destination", r.String())
	}
	SetPrefixDelegation(b, h.PrefixDelegation)
	if h.StaticLease != nil && h.DHCPServer {
		b.Set("DHCPServerStaticLease", "MACAddress", h.StaticLease.MAC.String())
		b.Set("DHCPServerStaticLease", "Address", h.StaticLease.Addr.String())
	}
	for _, p := range h.Announce {
		b.AddSection("IPv6Prefix")
		b.Set("IPv6Prefix", "Prefix", p.String())
	}
	for _, p := range h.Assign {
		b.AddSection("IPv6Prefix")
		b.Set("IPv6Prefix", "Prefix", p.String())
		b.Set("IPv6Prefix", "Assign", "yes")
	}
	b.Merge(h.Extra)
	return b.Bytes()
}

// Forwarding reports whether a host-side link with IPMasquerade=masquerade
// must also say IPForward=yes. networkd turns on forwarding only for the
// families it masquerades, so with masquerade = "ipv4" (the setting for a
// global IPv6 prefix) IPv6 forwarding would stay off and the routed prefix
// unreachable, and with "no" port forwards would not be forwarded at all.
func Forwarding(masquerade Masquerade) bool {
	return cmp.Or(masquerade, MasqueradeBoth) != MasqueradeBoth
}

// ProxyNDP is a drop-in for the .network file networkd applies to an uplink:
// the uplink answers neighbour solicitations for a container's addresses, for
// providers that put a host's /64 on-link instead of routing it to the host.
type ProxyNDP struct {
	Machine string
	Uplink  string
	Addrs   []netip.Addr
}

// RenderProxyNDP renders the drop-in FILE.network.d/nspawnctl-MACHINE.conf
// for the uplink's .network file: IPv6ProxyNDP= and one IPv6ProxyNDPAddress=
// per address. A drop-in rather than an edit, because that file is the
// user's; networkd merges drop-ins of every directory by the file's name.
func RenderProxyNDP(p ProxyNDP) ([]byte, error) {
	b := unitfile.New(append(header("machine "+p.Machine+": proxy NDP on "+p.Uplink),
		"A drop-in for the .network file networkd applies to "+p.Uplink+".")...)
	b.Set("Network", "IPv6ProxyNDP", "yes")
	for _, a := range p.Addrs {
		b.Set("Network", "IPv6ProxyNDPAddress", a.String())
	}
	return b.Bytes()
}

// Resolved is the container's systemd-resolved drop-in: the link settings
// LLMNR= and MulticastDNS= in the .network file only take effect where the
// global settings allow them, and distributions differ in those defaults
// (mDNS is off in several), so the container says so itself.
type Resolved struct {
	Machine string
	LLMNR   bool
	MDNS    bool
}

// RenderResolved renders ROOT/etc/systemd/resolved.conf.d/nspawnctl.conf.
func RenderResolved(r Resolved) ([]byte, error) {
	b := unitfile.New(header("machine " + r.Machine + ", inside the container")...)
	// Only what the link needs is switched on; "no" here would switch a
	// protocol off for every other link of the container too.
	if r.LLMNR {
		b.Set("Resolve", "LLMNR", "yes")
	}
	if r.MDNS {
		b.Set("Resolve", "MulticastDNS", "yes")
	}
	return b.Bytes()
}

// Container is everything the container side .network file says.
type Container struct {
	Machine string
	// MatchName is host0 for veth, zone and bridge links, or the macvlan/ipvlan name.
	MatchName string
	// FileName is the .network file's name without prefix and suffix.
	FileName string
	Addrs    []netip.Prefix
	Gateways []netip.Addr
	DHCP     string
	DNS      []string
	LLMNR    bool
	MDNS     bool
	Extra    []unitfile.Option
}

// RenderContainer renders the .network file nspawnctl puts into the
// container's root (ROOT/etc/systemd/network/20-host0.network).
func RenderContainer(c Container) ([]byte, error) {
	b := unitfile.New(header("machine " + c.Machine + ", inside the container")...)
	b.Set("Match", "Name", c.MatchName)
	b.Set("Match", "Virtualization", "container")
	b.Set("Network", "Address", unitfile.Strings(c.Addrs)...)
	for _, g := range c.Gateways {
		b.Set("Network", "Gateway", g.String())
	}
	b.Set("Network", "DHCP", cmp.Or(c.DHCP, "no"))
	b.Set("Network", "DNS", c.DNS...)
	b.Set("Network", "LinkLocalAddressing", "yes")
	// Router advertisements carry announced global prefixes (ipv6_prefix) and
	// the default IPv6 route; a static address does not stop SLAAC.
	b.Set("Network", "IPv6AcceptRA", "yes")
	b.Bool("Network", "LLMNR", c.LLMNR)
	b.Bool("Network", "MulticastDNS", c.MDNS)
	b.Merge(c.Extra)
	return b.Bytes()
}
