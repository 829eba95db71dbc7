package testhost

import "net/netip"

// Uplink is a test host's link to the outside: a veth pair whose host end is
// HostUplink inside the test host. By default (DefaultUplink) its other end
// is the host's own client namespace; a Topology puts the other end into a
// router namespace that several hosts share.
type Uplink struct {
	// Netns names (under /run/netns) the namespace of the other end; empty:
	// the host's own client namespace.
	Netns string
	// PeerLink is the other end's name; unique in Netns.
	PeerLink string
	// Host are the addresses of the test host's end, with prefix length.
	Host []netip.Prefix
	// Peer are the addresses of the other end.
	Peer []netip.Prefix
	// Gateway routes everything else through the peer's addresses.
	Gateway bool
}

// DefaultUplink is the link to the host's own client namespace: client
// ClientLink ClientIPv4/24 and ClientIPv6/64, host HostIPv4 and HostIPv6.
func DefaultUplink() Uplink {
	return Uplink{
		PeerLink: ClientLink,
		Host:     []netip.Prefix{netip.MustParsePrefix(HostIPv4 + "/24"), netip.MustParsePrefix(HostIPv6 + "/64")},
		Peer:     []netip.Prefix{netip.MustParsePrefix(ClientIPv4 + "/24"), netip.MustParsePrefix(ClientIPv6 + "/64")},
	}
}

func (u Uplink) describe() string {
	if u.Netns == "" {
		return "the client namespace"
	}
	return "the router namespace " + u.Netns
}

// UplinkIPv4 is the test host's first IPv4 address on its uplink: where
// other hosts and the client reach it.
func (h *Host) UplinkIPv4() netip.Addr {
	for _, p := range h.cfg.Uplink.Host {
		if p.Addr().Is4() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}
