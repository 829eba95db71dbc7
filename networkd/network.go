package networkd

// Mode is the network mode of a machine. The mode decides which interfaces
// systemd-nspawn creates and which files nspawnctl renders. Its text is the
// configuration's spelling, which state records and JSON output keep.
type Mode string

// Network modes of a machine's `network` block.
const (
	ModeVeth    Mode = "veth"    // a ve-NAME/host0 pair routed by the host (the default)
	ModeZone    Mode = "zone"    // a vb-NAME port on the vz-ZONE bridge that nspawn creates
	ModeBridge  Mode = "bridge"  // a vb-NAME port on an existing or declared bridge
	ModeMacvlan Mode = "macvlan" // a macvlan on a host interface; the container sits on that LAN
	ModeIpvlan  Mode = "ipvlan"  // an ipvlan on a host interface (needs a kernel with IPVLAN)
	ModeHost    Mode = "host"    // no private network: the container shares the host's namespace
	ModeNone    Mode = "none"    // a private network namespace with only loopback
)

// Modes lists every network mode, in the order the documentation shows them.
var Modes = []Mode{ModeVeth, ModeZone, ModeBridge, ModeMacvlan, ModeIpvlan, ModeHost, ModeNone}

// Masquerade is networkd's IPMasquerade=: the address families whose
// outbound connections from a link are masqueraded.
type Masquerade string

// Masquerade settings.
const (
	MasqueradeIPv4 Masquerade = "ipv4"
	MasqueradeIPv6 Masquerade = "ipv6"
	MasqueradeBoth Masquerade = "both" // the default of a veth link and a zone
	MasqueradeNo   Masquerade = "no"   // the default of a bridge
)

// Masquerades lists every masquerade setting, in the order the documentation shows them.
var Masquerades = []Masquerade{MasqueradeIPv4, MasqueradeIPv6, MasqueradeBoth, MasqueradeNo}

// Names reports whether the setting masquerades the family (IPv4 when v4, else IPv6).
func (m Masquerade) Names(v4 bool) bool {
	return m == MasqueradeBoth || v4 && m == MasqueradeIPv4 || !v4 && m == MasqueradeIPv6
}

// PrefixDelegation is networkd's DHCPPrefixDelegation= with its
// [DHCPPrefixDelegation] section: a downstream link takes a subnet of an
// uplink's DHCPv6 prefix delegation.
type PrefixDelegation struct {
	// Uplink is the interface that receives the delegated prefix (":auto" when empty).
	Uplink string
	// SubnetID picks the subnet of the delegated prefix (hexadecimal; empty: networkd picks).
	SubnetID string
}
