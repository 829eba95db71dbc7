package resolve

import (
	"cmp"
	"net/netip"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
	"github.com/nspawnctl/nspawnctl/nat"
	"github.com/nspawnctl/nspawnctl/networkd"
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

// RootKind says where a machine's root file system comes from.
type RootKind string

// Root kinds: the source a machine's root block names.
const (
	RootDirectory RootKind = "directory" // an existing directory (the default: MachinesDir/NAME)
	RootImage     RootKind = "image"     // an existing raw disk image
	RootTarball   RootKind = "tarball"   // a tarball imported on create
	RootBootstrap RootKind = "bootstrap" // an mmdebstrap run on create
	RootNixOS     RootKind = "nixos"     // a NixOS system closure in /nix/store
)

// Creates reports whether nspawnctl makes a root of this kind on create
// (the others must exist already).
func (k RootKind) Creates() bool {
	return k == RootTarball || k == RootBootstrap || k == RootNixOS
}

// Activation is how an apply takes effect on a running machine.
type Activation string

// Activation strategies: how a change reaches a running machine.
const (
	ActivateAuto    Activation = "auto"    // restart when needed, reload when enough, nothing when nothing changed
	ActivateRestart Activation = "restart" // restart on any change
	ActivateReload  Activation = "reload"  // never restart; changes needing one wait for the next start
	ActivateNone    Activation = "none"    // only write files
)

// Activations lists every activation strategy.
var Activations = []Activation{ActivateAuto, ActivateRestart, ActivateReload, ActivateNone}

// InEffect is the strategy a setting means: ActivateAuto when it is empty
// (not configured, or a state record written without one).
func (a Activation) InEffect() Activation { return cmp.Or(a, ActivateAuto) }

// ResolvedMachine is one machine after validation: every setting parsed,
// checked and with its default, so that rendering and the lifecycle never
// read the configuration again.
type ResolvedMachine struct {
	Name string
	// RootDir is the machine's root directory (for images: the image path).
	RootDir  string
	RootKind RootKind
	// Root is what a root that nspawnctl creates is made from (RootKind tarball, bootstrap, nixos).
	Root RootSource
	Boot bool
	// Exec and Files are the .nspawn file's [Exec] and [Files] settings.
	Exec  Exec
	Files Files
	// Unit holds the settings of the machine's unit (drop-in, autostart, activation).
	Unit Unit

	// Mode is the network mode.
	Mode networkd.Mode
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
	// HostSide is the rest of the host side of a veth link (zero for other modes).
	HostSide HostSide
	// ContainerAddrs are the container's static addresses (empty: DHCP or none).
	ContainerAddrs []netip.Prefix
	// Gateways are the container's default gateways.
	Gateways []netip.Addr
	// ContainerSide is the rest of the container's network file.
	ContainerSide ContainerSide
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

// RootSource is what nspawnctl creates a root from; only the field of the
// machine's RootKind is set.
type RootSource struct {
	// Tarball is the .tar[.gz|.xz|.zst] file imported (RootTarball).
	Tarball string
	// Bootstrap is the mmdebstrap run (RootBootstrap).
	Bootstrap *Bootstrap
	// NixOSSystem is the system closure in /nix/store (RootNixOS).
	NixOSSystem string
}

// Bootstrap is an mmdebstrap run, with its defaults filled in.
type Bootstrap struct {
	// Suite is the distribution release (default bookworm).
	Suite string
	// Mirror is the archive URL; empty: mmdebstrap's (the host's apt sources).
	Mirror string
	// Variant is mmdebstrap's variant (default minbase).
	Variant string
	// Packages are installed in addition to what nspawnctl always installs.
	Packages []string
}

// Default bootstrap settings.
const (
	DefaultBootstrapSuite   = "bookworm"
	DefaultBootstrapVariant = "minbase"
)

// Exec is the [Exec] section of a machine's .nspawn file, except Boot,
// which follows from the root.
type Exec struct {
	// Command is the command line (Boot false) or the init's arguments.
	Command []string
	// PrivateUsers is nspawn's PrivateUsers= (default "no").
	PrivateUsers string
	Ephemeral    bool
	Environment  map[string]string
	// Capabilities are added to and DropCapabilities removed from the bounding set.
	Capabilities     []string
	DropCapabilities []string
	SystemCallFilter []string
	// LimitNOFILE is RLIMIT_NOFILE for the container's processes (0: not set).
	LimitNOFILE int
}

// Files is the [Files] section of a machine's .nspawn file.
type Files struct {
	Bind                 []string
	BindReadOnly         []string
	TemporaryFileSystems []string
}

// Unit is what the machine's unit (systemd-nspawn@NAME.service) gets from
// the configuration.
type Unit struct {
	// Autostart starts the machine at boot (machines.target).
	Autostart bool
	// TimeoutStart and TimeoutStop are systemd time spans; empty: the unit's.
	TimeoutStart, TimeoutStop string
	// MemoryMax and CPUQuota are the unit's limits; empty: none.
	MemoryMax, CPUQuota string
	// TasksMax is the unit's task limit (0: not set).
	TasksMax int
	// Activation is the strategy as configured; empty means ActivateAuto
	// (see InEffect). It is not defaulted because state records keep what
	// the configuration says.
	Activation Activation
}

// HostSide is the host side of a veth link (ve-NAME) beyond its addresses.
type HostSide struct {
	// Masquerade is the link's IPMasquerade= (default both).
	Masquerade networkd.Masquerade
	// DHCPServer runs networkd's DHCPv4 server on the link (default true).
	DHCPServer bool
	// Announce are the ipv6_prefix prefixes announced only, Assign those
	// also assigned to the host side, in configuration order.
	Announce, Assign []netip.Prefix
	// PrefixDelegation takes a /64 of an uplink's delegation (nil: off).
	PrefixDelegation *networkd.PrefixDelegation
	// ProxyNDP are the uplinks that answer neighbour discovery for the container's addresses.
	ProxyNDP []string
	// Extra are raw options merged into the .network file.
	Extra []unitfile.Option
}

// ContainerSide is the container's network file beyond its addresses and gateways.
type ContainerSide struct {
	// DHCP is networkd's DHCP=: as configured, else "yes" without static
	// addresses and "no" with them.
	DHCP string
	DNS  []string
	// LLMNR and MDNS are the link's settings: the container block's, else
	// the zone's, else LLMNR on and mDNS off.
	LLMNR, MDNS bool
	// Extra are raw options merged into the .network file.
	Extra []unitfile.Option
}

// ResolvedZone is a zone after validation, with its addresses allocated
// and its settings defaulted.
type ResolvedZone struct {
	Name    string
	Link    string // vz-NAME
	Addrs   []netip.Prefix
	Members []string // machine names, sorted
	// DHCPServer (default true), LLMNR (default true) and MDNS (default
	// false) are the bridge's settings, LLMNR and MDNS its members' defaults.
	DHCPServer, LLMNR, MDNS bool
	// Masquerade is the bridge's IPMasquerade= (default both).
	Masquerade networkd.Masquerade
	// PrefixDelegation gives the zone a /64 of an uplink's delegation (nil: off).
	PrefixDelegation *networkd.PrefixDelegation
	// DirectRouting and Isolated are the members' exposure settings.
	DirectRouting, Isolated bool
	// Extra are raw options merged into the .network file.
	Extra []unitfile.Option
}

// ResolvedBridge is a declared bridge after validation.
type ResolvedBridge struct {
	Name    string
	Addrs   []netip.Prefix
	Members []string
	// Uplink is the host interface enslaved to the bridge; empty: none.
	Uplink string
	// DHCP is networkd's DHCP= on the bridge; empty: no.
	DHCP string
	// DHCPServer runs networkd's DHCPv4 server on the bridge (default false).
	DHCPServer bool
	// Masquerade is the bridge's IPMasquerade= (default no).
	Masquerade networkd.Masquerade
	// Extra and NetdevExtra are raw options merged into the .network and .netdev files.
	Extra, NetdevExtra []unitfile.Option
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
