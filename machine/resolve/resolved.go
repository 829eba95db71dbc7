package resolve

import (
	"net/netip"

	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
	"github.com/nspawnctl/nspawnctl/nat"
	"github.com/nspawnctl/nspawnctl/zones"
)

// Resolved is a validated configuration with every default filled in and
// every address allocated: the input of rendering and of the lifecycle. It is
// a pure function of the configuration and the host facts in Host.
type Resolved struct {
	StateDir    string
	MachinesDir string
	// UnitDir is where unit drop-ins and autostart links go.
	UnitDir      string
	IPv4Pool     netip.Prefix
	ZoneIPv4Pool netip.Prefix
	ULA          netip.Prefix
	// NebulaPool is the default overlay pool (invalid: none).
	NebulaPool netip.Prefix
	Machines   []*ResolvedMachine // sorted by name
	Zones      []*ResolvedZone    // sorted by name
	Bridges    []*ResolvedBridge  // sorted by name
}

// Machine returns the resolved machine called name, or nil.
func (r *Resolved) Machine(name string) *ResolvedMachine {
	for _, m := range r.Machines {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// ResolvedMachine is one machine after validation.
type ResolvedMachine struct {
	Spec *config.Machine
	Name string
	// RootDir is the machine's root directory (for images: the image path).
	RootDir string
	// RootKind is "directory", "image", "tarball", "bootstrap" or "nixos".
	RootKind string
	Boot     bool

	// Mode is the network mode (networkd.Mode*).
	Mode string
	// HostLink is the host-side interface nspawn creates (ve-/vb-, shortened as nspawn does); empty without one.
	HostLink string
	// HostLinkFull is the unshortened name (nspawn's altname) when HostLink was shortened.
	HostLinkFull string
	// NATLink is the interface traffic to the container leaves the host on: HostLink for veth, the zone or bridge otherwise.
	NATLink string
	// Zone or Bridge the machine attaches to.
	Zone   string
	Bridge string
	// Parents are the host interfaces of macvlan/ipvlan.
	Parents []string

	// HostAddrs are the host side's addresses on a veth link.
	HostAddrs []netip.Prefix
	// ContainerAddrs are the container's static addresses (empty: DHCP or none).
	ContainerAddrs []netip.Prefix
	// Gateways are the container's default gateways.
	Gateways []netip.Addr
	// Allocated records which of the above came from a pool, keyed "ipv4" and "ipv6".
	Allocated map[string]netip.Prefix

	// Forwards are the machine's forward_port blocks, one per address family.
	Forwards []nat.Forward
	// DirectRouting and Isolated are the exposure settings in effect
	// (network block, else the zone's; exposure.go).
	DirectRouting, Isolated bool
	// Nebula is the machine's Nebula sidecar; nil without a nebula block.
	Nebula *nebula.Settings
}

// ResolvedZone is a zone after validation, with its addresses allocated.
type ResolvedZone struct {
	Spec    *zones.Zone
	Name    string
	Link    string // vz-NAME
	Addrs   []netip.Prefix
	Members []string // machine names, sorted
}

// ResolvedBridge is a declared bridge after validation.
type ResolvedBridge struct {
	Spec    *zones.Bridge
	Name    string
	Addrs   []netip.Prefix
	Members []string
}

// ProxiedAddrs are the container's addresses that proxy NDP answers for on
// its uplinks: its static global IPv6 addresses (not ULA, not link-local).
func (m *ResolvedMachine) ProxiedAddrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range m.ContainerAddrs {
		ip := a.Addr()
		if ip.Is6() && ip.IsGlobalUnicast() && !ulaRange.Contains(ip) {
			out = append(out, ip)
		}
	}
	return out
}

var ulaRange = netip.MustParsePrefix("fc00::/7")

// DefaultUnitDir is the default unit directory for drop-ins and autostart links.
const DefaultUnitDir = "/etc/systemd/system"
