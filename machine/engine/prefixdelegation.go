package engine

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nspawnctl/nspawnctl/networkd/renumber"
)

// LinkAddr is an IPv6 address of a host link.
type LinkAddr struct {
	Prefix netip.Prefix
	// Dynamic: the address has a finite valid lifetime, as networkd gives
	// addresses from a delegation (static ones live forever).
	Dynamic    bool
	Deprecated bool
}

// delegation returns the delegated /64s on link (its dynamic global
// addresses outside the ULA range) and which of the machine's addresses lie
// in them. Errors leave both empty: status shows what it can.
func (m *Manager) delegation(link string, machineAddrs []netip.Addr) ([]netip.Prefix, []netip.Addr) {
	if m.LinkAddrs == nil {
		return nil, nil
	}
	las, err := m.LinkAddrs(link)
	if err != nil {
		return nil, nil
	}
	var pfx []netip.Prefix
	for _, la := range las {
		if la.Dynamic && !la.Deprecated && renumber.Stale(la.Prefix) && !slices.Contains(pfx, la.Prefix.Masked()) {
			pfx = append(pfx, la.Prefix.Masked())
		}
	}
	var global []netip.Addr
	for _, a := range machineAddrs {
		for _, p := range pfx {
			if p.Contains(a) {
				global = append(global, a)
			}
		}
	}
	return pfx, global
}

// NetlinkLinkAddrs is Manager.LinkAddrs on the host, read with rtnetlink.
func NetlinkLinkAddrs(link string) ([]LinkAddr, error) {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", link, err)
	}
	addrs, err := netlink.AddrList(l, unix.AF_INET6)
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", link, err)
	}
	var out []LinkAddr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		bits, _ := a.Mask.Size()
		out = append(out, LinkAddr{
			Prefix:     netip.PrefixFrom(ip, bits),
			Dynamic:    uint32(a.ValidLft) != 0xffffffff && a.ValidLft > 0,
			Deprecated: a.Flags&unix.IFA_F_DEPRECATED != 0 || a.PreferedLft == 0,
		})
	}
	return out, nil
}
