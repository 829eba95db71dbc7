// Package nebula renders and runs a Nebula mesh sidecar for a machine: a
// nebula process inside the container's network namespace that joins it to an
// encrypted overlay shared with containers on other hosts.
package nebula

import (
	"net/netip"
	"time"

	"github.com/slackhq/nebula/cert"
)

// Settings is a machine's Nebula sidecar as machine/resolve leaves it: the
// `nebula` block (machine/config.Nebula) validated, its values parsed and
// the defaults filled in. Rendering, signing and the units read it as it
// is and parse nothing; what they still check (CheckVersion, CheckRules)
// needs the host's nebula or guards callers that build Settings themselves.
type Settings struct {
	// Network names the overlay; machines with the same network share a CA.
	Network string
	// CA is the path of the CA certificate (PEM) on the host.
	CA string
	// Cert and Key are the paths of a certificate and key the block gives;
	// both empty when nspawnctl signs one with CAKey.
	Cert, Key string
	// CAKey is the path of the CA's signing key when nspawnctl signs.
	CAKey string
	// Address is the overlay address the block sets; invalid when it sets
	// none (signing allocates one from Pool; a given certificate has its own).
	Address netip.Prefix
	// Address6 is the IPv6 overlay address a version 2 certificate carries
	// after Address; invalid when there is none.
	Address6 netip.Prefix
	// Pool is what an overlay address is allocated from when signing
	// without Address: the block's pool, else the defaults' nebula_pool;
	// invalid when neither is set.
	Pool netip.Prefix
	// CertVersion is the version of the certificate nspawnctl signs, and
	// what the host's nebula must read (cert.Version1 unless cert_version = 2).
	CertVersion cert.Version
	// Duration is how long a signed certificate lives; zero: until one
	// second before the CA expires.
	Duration time.Duration
	// RenewBefore is how long before its expiry a signed certificate is
	// re-signed: renew_before, else a third of Duration, else the
	// package's RenewBefore.
	RenewBefore time.Duration
	// DurationText and RenewBeforeText are duration and renew_before as
	// the block writes them ("" when unset). MetaPath records them, so
	// that renew, which runs without the HCL, keeps the lifetime the block
	// asked for.
	DurationText, RenewBeforeText string
	// Groups are put into a signed certificate and used by firewall rules.
	Groups []string
	// Lighthouses are the lighthouses' overlay addresses.
	Lighthouses []netip.Addr
	// AmLighthouse makes this machine a lighthouse.
	AmLighthouse bool
	// StaticHostMap maps overlay addresses to underlay "host:port"
	// endpoints (host an IP address or a DNS name, which nebula resolves).
	StaticHostMap map[netip.Addr][]string
	// ListenPort is the UDP port nebula listens on inside the container:
	// listen_port, else DefaultLighthousePort for a lighthouse, else 0
	// (a random port).
	ListenPort int
	// AdvertiseAddrs are the underlay addresses where other hosts reach
	// this sidecar (traversal.go), each with its port: the one written, or
	// ListenPort.
	AdvertiseAddrs []netip.AddrPort
	// Relay is nil when the block sets none of am_relay, use_relays and
	// relays: then the config has no relay section and nebula's defaults
	// apply (use relays, be none).
	Relay *Relay
	// Punchy turns on NAT hole punching (punchy.punch and punchy.respond).
	Punchy bool
	// Device is the tun device name inside the container (DefaultDevice
	// unless the block names one).
	Device string
	// MTU is the tun device's MTU (DefaultMTU unless the block sets one).
	MTU int
	// Inbound and Outbound are the firewall rules; Nebula denies what no
	// rule allows.
	Inbound, Outbound []Rule
}

// Relay is a sidecar's relay settings (relay.am_relay, relay.use_relays,
// relay.relays).
type Relay struct {
	// AmRelay lets this sidecar relay traffic between peers that cannot
	// reach each other directly.
	AmRelay bool
	// UseRelays lets this sidecar reach peers through their relays
	// (nebula's default: true).
	UseRelays bool
	// Relays are the overlay addresses of relays through which peers may
	// reach this sidecar.
	Relays []netip.Addr
}

// Rule is an `inbound` or `outbound` firewall rule, with "any" for the
// port and protocol it does not restrict. It matches when port AND proto
// AND (host OR group OR groups OR cidr) AND (ca_name OR ca_sha) match.
type Rule struct {
	// Port is "any", "fragment", N or N-M.
	Port string
	// Proto is "any", "tcp", "udp" or "icmp".
	Proto string
	// Host, Group and Groups match the peer's certificate name and groups
	// (Groups: all of them); "" and nil match nothing on their own.
	Host, Group string
	Groups      []string
	// CIDR matches the peer's overlay address; invalid when the rule has none.
	CIDR netip.Prefix
	// CAName and CASha match the CA that signed the peer's certificate.
	CAName, CASha string
	// LocalCIDR matches the local address (nebula 1.7 and later; invalid:
	// any).
	LocalCIDR netip.Prefix
}

// DefaultMTU is the tun device's MTU when the block sets none.
const DefaultMTU = 1300

// NeedsForward reports whether the sidecar listens on a fixed port that
// other hosts must reach through a host forward: every sidecar with a
// listen port, lighthouses included (DefaultLighthousePort).
func (s *Settings) NeedsForward() bool { return s.ListenPort > 0 }

// signs reports whether nspawnctl signs the sidecar's certificate (with
// CAKey) rather than use the one the block gives.
func (s *Settings) signs() bool { return s.Cert == "" }
