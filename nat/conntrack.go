package nat

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A UDP forward installed while a peer is already sending to its port does
// not apply to that peer: the peer's first packet, which found no forward,
// made a conntrack entry towards the host itself, and every later packet
// matches that entry instead of the DNAT rule. A peer that keeps sending
// (nebula's handshake retries; any UDP protocol that retries) keeps the
// entry alive for good. This happens whenever a container with a UDP forward
// starts after its peers: a lighthouse coming up after its members, a member
// beside it that its host started first, a container restarted while peers
// retry. So after installing forwards, their shadowing entries are dropped.
// TCP needs none of this: a SYN to a closed local port is refused, and the
// client's next SYN is a new connection.

// Conntrack drops connection tracking entries that would keep new forwards
// from applying.
type Conntrack interface {
	// DropShadowed deletes the entries Shadowed matches and reports how many.
	DropShadowed(forwards []Forward) (int, error)
}

// Flow is the part of a conntrack entry Shadowed looks at.
type Flow struct {
	Protocol    uint8 // IPPROTO_*
	OrigDst     netip.AddrPort
	ReplySource netip.AddrPort
}

// Shadowed reports whether flow keeps one of the forwards from applying: a
// UDP flow to a local address and a forward's host port that was not
// DNATed (its replies come from where it was sent).
func Shadowed(flow Flow, local map[netip.Addr]bool, forwards []Forward) bool {
	if flow.Protocol != unix.IPPROTO_UDP || !local[flow.OrigDst.Addr()] || flow.ReplySource != flow.OrigDst {
		return false
	}
	port := flow.OrigDst.Port()
	for _, f := range forwards {
		if f.Protocol != "udp" || f.Target.Is4() != flow.OrigDst.Addr().Is4() {
			continue
		}
		if f.HostAddr.IsValid() && f.HostAddr != flow.OrigDst.Addr() {
			continue
		}
		if f.HostPorts.First <= port && port <= f.HostPorts.Last {
			return true
		}
	}
	return false
}

// NamespaceConntrack implements Conntrack with netlink in a namespace.
type NamespaceConntrack struct {
	// NS is the namespace; netns.None() (-1) means the caller's own.
	NS netns.NsHandle
}

// DropShadowed implements Conntrack.
func (c NamespaceConntrack) DropShadowed(forwards []Forward) (int, error) {
	udp := false
	for _, f := range forwards {
		udp = udp || f.Protocol == "udp"
	}
	if !udp {
		return 0, nil
	}
	n := 0
	err := InNamespace(c.NS, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_NETFILTER, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("list the host's addresses: %w", err)
		}
		local := map[netip.Addr]bool{}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				local[ip.Unmap()] = true
			}
		}
		f := shadowFilter{local: local, forwards: forwards}
		for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
			k, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, fam, f)
			n += int(k)
			if err != nil {
				return fmt.Errorf("delete conntrack entries that bypass the new UDP forwards: %w", err)
			}
		}
		return nil
	})
	return n, err
}

type shadowFilter struct {
	local    map[netip.Addr]bool
	forwards []Forward
}

func (s shadowFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	return Shadowed(Flow{
		Protocol:    flow.Forward.Protocol,
		OrigDst:     addrPort(flow.Forward.DstIP, flow.Forward.DstPort),
		ReplySource: addrPort(flow.Reverse.SrcIP, flow.Reverse.SrcPort),
	}, s.local, s.forwards)
}

func addrPort(ip net.IP, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}
