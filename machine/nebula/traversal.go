package nebula

import (
	"net/netip"
	"strconv"
)

// How a sidecar behind its host's NAT is reached from other hosts.
//
// A container on a veth or zone network is NATed behind its host: the host
// masquerades what it sends, and nothing from outside reaches it unless the
// host forwards a port. Hole punching through two masquerading hosts works
// only by luck (the measurements: a masquerade rewrites the source
// port, an early handshake leaves an [UNREPLIED] conntrack entry on the far
// side that nebula's retries keep alive, and the far side's punch then gets
// another port). And a member beside the lighthouse is seen by the lighthouse
// from the host's internal ve- address, which means nothing elsewhere.
//
// So a sidecar with a fixed listen_port is reachable the way a lighthouse is:
// nspawnctl forwards that UDP port from the host to the container (an
// automatic forward, see machine's nebula forwards), and advertise_addrs
// names the host's addresses, which the sidecar reports to the lighthouses
// next to what they observe. Other hosts then reach it at HOST:PORT through
// the forward; members on the same host reach it there too (the forward
// applies to traffic from the host's own containers). The container's own
// addresses are kept out of the report (lighthouse.local_allow_list), since
// they are private to the host and may name another container on another host.

// ParseAdvertiseAddr checks one advertise_addrs entry: an IP address, or
// IP:PORT. It returns a sentence saying what is wrong, or "".
func ParseAdvertiseAddr(a string) string {
	ip, err := netip.ParseAddr(a)
	if err != nil {
		ap, perr := netip.ParseAddrPort(a)
		if perr != nil {
			return strconv.Quote(a) + " is neither an IP address nor IP:PORT (e.g. 203.0.113.7 or 203.0.113.7:4243)"
		}
		ip = ap.Addr()
	}
	if ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() {
		return strconv.Quote(a) + " is not a unicast address other hosts can reach"
	}
	return ""
}

// LocalAllowList is lighthouse.local_allow_list: with advertised addresses,
// no local address of the container is reported (its addresses are private
// to the host; the advertised ones are what other hosts reach); without,
// nil (nebula's default, report every local address).
func LocalAllowList(cfg *Settings) map[string]bool {
	if len(cfg.AdvertiseAddrs) == 0 {
		return nil
	}
	return map[string]bool{"0.0.0.0/0": false, "::/0": false}
}

// Nebula's dead-tunnel check for sidecars that use or are relays, in
// seconds (timers.connection_alive_interval and
// timers.pending_deletion_interval; nebula's defaults are 5 and 10): see
// the renderer.
const (
	deadTunnelCheck = 2
	deadTunnelWait  = 5
)

func sortedBoolKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sortStrings(ks)
	return ks
}
