// Package zones renders the host-side networkd files of zones (vz- bridges
// that systemd-nspawn creates for --network-zone) and of bridges that
// nspawnctl declares. Their configuration schema is machine/config's.
package zones

import (
	"cmp"
	"net/netip"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// ZoneNetwork is everything the host side .network file of a zone says.
type ZoneNetwork struct {
	Name       string
	Link       string // vz-NAME
	Addrs      []netip.Prefix
	Announce   []netip.Prefix // IPv6 prefixes announced to members (the zone's ULA /64)
	DHCPServer bool
	LLMNR      bool
	MDNS       bool
	Masquerade networkd.Masquerade
	// PrefixDelegation takes a /64 of an uplink's delegated prefix (nil: off).
	PrefixDelegation *networkd.PrefixDelegation
	Extra            []unitfile.Option
}

// RenderZone renders /etc/systemd/network/20-vz-NAME.network, which takes
// precedence over systemd's 80-container-vz.network for this zone only.
func RenderZone(z ZoneNetwork) ([]byte, error) {
	b := unitfile.New("Managed by nspawnctl for zone "+z.Name+".", "Do not edit: nspawnctl rewrites or removes this file.")
	b.Set("Match", "Name", z.Link)
	b.Set("Match", "Driver", "bridge")
	b.Set("Network", "Address", unitfile.Strings(z.Addrs)...)
	b.Set("Network", "LinkLocalAddressing", "yes")
	b.Bool("Network", "DHCPServer", z.DHCPServer)
	b.Set("Network", "IPMasquerade", string(cmp.Or(z.Masquerade, networkd.MasqueradeBoth)))
	if networkd.Forwarding(z.Masquerade) {
		b.Set("Network", "IPForward", "yes")
	}
	b.Set("Network", "LLDP", "yes")
	b.Set("Network", "EmitLLDP", "customer-bridge")
	b.Set("Network", "IPv6AcceptRA", "no")
	b.Set("Network", "IPv6SendRA", "yes")
	b.Bool("Network", "LLMNR", z.LLMNR)
	b.Bool("Network", "MulticastDNS", z.MDNS)
	b.Set("Network", "ConfigureWithoutCarrier", "yes")
	networkd.SetPrefixDelegation(b, z.PrefixDelegation)
	for _, p := range z.Announce {
		b.AddSection("IPv6Prefix")
		b.Set("IPv6Prefix", "Prefix", p.String())
	}
	b.Merge(z.Extra)
	return b.Bytes()
}

// BridgeNetwork is what the .netdev and .network files of a declared bridge say.
type BridgeNetwork struct {
	Name        string
	Addrs       []netip.Prefix
	Uplink      string
	DHCP        string
	DHCPServer  bool
	Masquerade  networkd.Masquerade
	Extra       []unitfile.Option
	NetdevExtra []unitfile.Option
}

// RenderBridgeNetdev renders 20-NAME.netdev, which makes networkd create the bridge.
func RenderBridgeNetdev(br BridgeNetwork) ([]byte, error) {
	b := unitfile.New("Managed by nspawnctl for bridge "+br.Name+".", "Do not edit: nspawnctl rewrites or removes this file.")
	b.Set("NetDev", "Name", br.Name)
	b.Set("NetDev", "Kind", "bridge")
	b.Merge(br.NetdevExtra)
	return b.Bytes()
}

// RenderBridgeNetwork renders 20-NAME.network, the bridge's own configuration.
func RenderBridgeNetwork(br BridgeNetwork) ([]byte, error) {
	b := unitfile.New("Managed by nspawnctl for bridge "+br.Name+".", "Do not edit: nspawnctl rewrites or removes this file.")
	b.Set("Match", "Name", br.Name)
	b.Set("Network", "Address", unitfile.Strings(br.Addrs)...)
	b.Set("Network", "DHCP", cmp.Or(br.DHCP, "no"))
	b.Bool("Network", "DHCPServer", br.DHCPServer)
	b.Set("Network", "IPMasquerade", string(cmp.Or(br.Masquerade, networkd.MasqueradeNo)))
	if len(br.Addrs) > 0 && networkd.Forwarding(cmp.Or(br.Masquerade, networkd.MasqueradeNo)) {
		// With an address the bridge is its members' gateway (and the
		// target link of their port forwards), which needs forwarding that
		// IPMasquerade=no does not turn on.
		b.Set("Network", "IPForward", "yes")
	}
	// Without carrier (no member started yet) networkd would leave the
	// bridge unconfigured, and the first container would find no gateway.
	b.Set("Network", "ConfigureWithoutCarrier", "yes")
	b.Merge(br.Extra)
	return b.Bytes()
}

// RenderBridgeUplink renders 20-NAME-uplink.network, which enslaves the uplink.
func RenderBridgeUplink(br BridgeNetwork) ([]byte, error) {
	b := unitfile.New("Managed by nspawnctl for bridge "+br.Name+": its uplink.", "Do not edit: nspawnctl rewrites or removes this file.")
	b.Set("Match", "Name", br.Uplink)
	b.Set("Network", "Bridge", br.Name)
	return b.Bytes()
}
