package renumber

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Events reports the IPv6 addresses of the link named link, as the kernel
// announces them on rtnetlink, until ctx ends. The link may come and go (a
// container's veth does with every restart): events are matched by name.
func Events(ctx context.Context, link string) (<-chan Event, error) {
	updates := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	errs := make(chan error, 1)
	err := netlink.AddrSubscribeWithOptions(updates, done, netlink.AddrSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to address changes: %w", err)
	}
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		defer close(done)
		index := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-errs:
				return
			case u, ok := <-updates:
				if !ok {
					return
				}
				if u.LinkIndex != index {
					l, err := netlink.LinkByIndex(u.LinkIndex)
					if err != nil || l.Attrs().Name != link {
						continue
					}
					index = u.LinkIndex
				}
				p, ok := prefixOf(u.LinkAddress)
				if !ok {
					continue
				}
				valid := time.Duration(u.ValidLft) * time.Second
				if uint32(u.ValidLft) == 0xffffffff {
					valid = -1
				}
				select {
				case out <- Event{Addr: p, Removed: !u.NewAddr, Valid: valid}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func prefixOf(n net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok || !a.Is6() || a.Is4In6() {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits), true
}

// LinkSender sends advertisements on one link from its link-local address,
// with hop limit 255 to all nodes (ff02::1), as RFC 4861 6.2.4 requires of
// a router (receivers drop anything else).
type LinkSender struct {
	Link string
}

// Send implements Sender.
func (s LinkSender) Send(d Deprecation) error { return s.sendRaw(Advertisement(d)) }

func (s LinkSender) sendRaw(ra []byte) error {
	l, err := netlink.LinkByName(s.Link)
	if err != nil {
		return fmt.Errorf("link %s: %w", s.Link, err)
	}
	idx := l.Attrs().Index
	src, err := linkLocal(l)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return fmt.Errorf("raw ICMPv6 socket: %w", err)
	}
	defer unix.Close(fd)
	for _, o := range []struct{ opt, v int }{{unix.IPV6_MULTICAST_HOPS, 255}, {unix.IPV6_UNICAST_HOPS, 255}, {unix.IPV6_MULTICAST_IF, idx}, {unix.IPV6_MULTICAST_LOOP, 0}} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o.opt, o.v); err != nil {
			return fmt.Errorf("raw ICMPv6 socket option %d: %w", o.opt, err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: src.As16(), ZoneId: uint32(idx)}); err != nil {
		return fmt.Errorf("binding to %s%%%s: %w", src, s.Link, err)
	}
	dst := &unix.SockaddrInet6{Addr: netip.MustParseAddr("ff02::1").As16(), ZoneId: uint32(idx)}
	if err := unix.Sendto(fd, ra, 0, dst); err != nil {
		return fmt.Errorf("sending a router advertisement on %s: %w", s.Link, err)
	}
	return nil
}

func linkLocal(l netlink.Link) (netip.Addr, error) {
	addrs, err := netlink.AddrList(l, unix.AF_INET6)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", l.Attrs().Name, err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s has no usable link-local address to send router advertisements from", l.Attrs().Name)
}
