// Package renumber deprecates a link's stale delegated prefixes: when the
// DHCPv6 prefix delegation of an uplink changes, systemd-networkd removes the
// old subnet's address from the downstream link and stops announcing it, but
// it does not tell the link's hosts (systemd issues 29651 and 43313, open
// through 259), so their SLAAC addresses stay preferred until the old lease's
// lifetimes run out. RFC 9096 section 3.3 asks the router to announce the
// stale prefix with preferred lifetime 0 and a short valid lifetime instead;
// this package builds those router advertisements (pure) and sends them when
// the kernel reports the link's address from the old prefix gone (the edge).
package renumber

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// RFC 4861 and RFC 4862 constants.
const (
	icmpRouterAdvertisement = 134
	optPrefixInformation    = 3
	pioFlagOnLink           = 0x80
	pioFlagAutonomous       = 0x40

	// MinValidLifetime is RFC 4862 5.5.3 (e)'s two hours: an unauthenticated
	// advertisement cannot lower a longer remaining valid lifetime below it,
	// so a longer one would only extend the old address's life.
	MinValidLifetime = 2 * time.Hour

	// DefaultRouterLifetime is networkd's RouterLifetimeSec= default (30
	// minutes). An advertisement always carries a router lifetime, and 0
	// would withdraw the host as the container's default router, so the
	// deprecating one repeats networkd's.
	DefaultRouterLifetime = 30 * time.Minute
)

// Deprecation is one stale prefix to announce on a link.
type Deprecation struct {
	// Prefix is the stale /64 the link's hosts configured addresses from.
	Prefix netip.Prefix
	// Valid is the valid lifetime to announce: what remained of the old
	// address's, at most MinValidLifetime.
	Valid time.Duration
	// RouterLifetime is the router lifetime of the advertisement.
	RouterLifetime time.Duration
}

// ValidLifetime is the valid lifetime to announce for an address that had
// remaining left when it was removed: RFC 9096 3.3's "short" lifetime, never
// more than what the old lease still allowed nor MinValidLifetime.
func ValidLifetime(remaining time.Duration) time.Duration {
	return max(0, min(remaining, MinValidLifetime))
}

// Advertisement is the ICMPv6 router advertisement (type 134, RFC 4861 4.2)
// with one prefix information option (4.6.2) that deprecates d.Prefix:
// on-link and autonomous, preferred lifetime 0. The checksum is left 0: the
// kernel fills it in for raw ICMPv6 sockets.
func Advertisement(d Deprecation) []byte {
	b := make([]byte, 16+32)
	b[0] = icmpRouterAdvertisement
	// b[4] hop limit 0, b[5] flags 0: "unspecified", so receivers keep
	// what networkd's own advertisements told them.
	binary.BigEndian.PutUint16(b[6:], seconds16(d.RouterLifetime))
	// Reachable time and retransmission timer 0: unspecified as well.
	o := b[16:]
	o[0] = optPrefixInformation
	o[1] = 4 // length in units of 8 octets
	o[2] = uint8(d.Prefix.Bits())
	o[3] = pioFlagOnLink | pioFlagAutonomous
	binary.BigEndian.PutUint32(o[4:], seconds32(d.Valid))
	binary.BigEndian.PutUint32(o[8:], 0) // preferred lifetime: deprecated now
	a := d.Prefix.Masked().Addr().As16()
	copy(o[16:], a[:])
	return b
}

func seconds16(d time.Duration) uint16 {
	return uint16(min(max(d/time.Second, 0), 0xffff))
}

func seconds32(d time.Duration) uint32 {
	return uint32(min(max(d/time.Second, 0), 0xfffffffe))
}

// Schedule is when the advertisements for one stale prefix go out, as
// offsets from the removal: several at first, because router advertisements
// are unreliable multicast and a host that misses them all keeps the old
// address preferred, then every ten minutes while the prefix is valid.
func Schedule(valid time.Duration) []time.Duration {
	out := []time.Duration{0, time.Second, 3 * time.Second, 10 * time.Second, 30 * time.Second}
	for t := 10 * time.Minute; t < valid; t += 10 * time.Minute {
		out = append(out, t)
	}
	for len(out) > 1 && out[len(out)-1] >= valid {
		out = out[:len(out)-1]
	}
	return out
}

// Stale reports whether addr, an address removed from a downstream link, is
// one whose prefix the link's hosts must be told about: a global unicast
// address (delegated prefixes are global), not a ULA nspawnctl allocated,
// not link-local.
func Stale(addr netip.Prefix) bool {
	a := addr.Addr()
	return a.Is6() && !a.Is4In6() && a.IsGlobalUnicast() && !netip.MustParsePrefix("fc00::/7").Contains(a)
}
