package networkd

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/dchest/siphash"
)

// MaxIfnameLen is the longest interface name the kernel accepts (IFNAMSIZ-1).
const MaxIfnameLen = 15

// MaxZoneNameLen is the longest zone name: "vz-" plus the zone must still be a
// valid interface name, because systemd-nspawn never shortens the zone bridge.
const MaxZoneNameLen = MaxIfnameLen - len("vz-")

// maxAltnameLen is the longest alternative interface name the kernel accepts
// (ALTIFNAMSIZ-1); nspawn skips the altname for longer full names.
const maxAltnameLen = 127

// shortenKey is systemd's SHORTEN_IFNAME_HASH_KEY
// (e1 90 a4 04 a8 ef 4b 51 8c cc c3 3a 9f 11 fc a2). systemd reads SipHash's
// k0 and k1 little-endian from the key bytes, so do we.
var shortenKey = [16]byte{0xe1, 0x90, 0xa4, 0x04, 0xa8, 0xef, 0x4b, 0x51, 0x8c, 0xcc, 0xc3, 0x3a, 0x9f, 0x11, 0xfc, 0xa2}

// b64url is systemd's urlsafe_base64char() alphabet.
const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// siphash24 is SipHash-2-4 of msg under a 16-byte key, with k0/k1 read
// little-endian as systemd's siphash24() does.
func siphash24(key [16]byte, msg []byte) uint64 {
	return siphash.Hash(binary.LittleEndian.Uint64(key[0:8]), binary.LittleEndian.Uint64(key[8:16]), msg)
}

// ShortenIfname returns the interface name systemd-nspawn (v245 and later,
// net_shorten_ifname) uses for the full name s: s itself when it fits in
// MaxIfnameLen bytes, otherwise its first 11 bytes followed by four B64URL
// characters of the low 24 bits of SipHash-2-4 over the whole of s. The hash
// keeps long names that share a prefix distinct, which plain truncation
// (systemd before v245, or net.naming-scheme < v245) would not.
func ShortenIfname(s string) string {
	if len(s) <= MaxIfnameLen {
		return s
	}
	h := siphash24(shortenKey, []byte(s))
	var b [MaxIfnameLen]byte
	n := copy(b[:], s[:MaxIfnameLen-4])
	// Most significant sextet first, exactly as nspawn emits them.
	b[n+0] = b64url[(h>>18)&63]
	b[n+1] = b64url[(h>>12)&63]
	b[n+2] = b64url[(h>>6)&63]
	b[n+3] = b64url[h&63]
	return string(b[:])
}

// IsShortened reports whether systemd-nspawn replaces the full interface name
// s (prefix included, e.g. "ve-NAME") by a hashed one, i.e. whether
// ShortenIfname(s) != s.
func IsShortened(s string) bool {
	return len(s) > MaxIfnameLen
}

// AltName returns the alternative interface name nspawn attaches to the host
// side link for the full name s, and whether there is one: only shortened
// names get one, and only when the full name fits an altname (127 bytes).
// status uses it to show both names; networkd's [Match] Name= matches either.
func AltName(s string) (string, bool) {
	if !IsShortened(s) || len(s) > maxAltnameLen {
		return "", false
	}
	return s, true
}

// VethName returns the host side interface name nspawn gives the veth of
// machine with --network-veth (Private=yes, VirtualEthernet=yes).
func VethName(machine string) string {
	return ShortenIfname("ve-" + machine)
}

// BridgePortName returns the host side veth name nspawn uses when the machine
// joins a bridge (--network-bridge=, Bridge=) or a zone (--network-zone=,
// Zone=): both use the "vb-" prefix.
func BridgePortName(machine string) string {
	return ShortenIfname("vb-" + machine)
}

// ZoneLinkName returns the name of the bridge nspawn creates for zone:
// "vz-" + zone. nspawn never shortens it and rejects zones whose bridge name
// would not be a valid interface name, so neither do we shorten: an invalid
// zone name is an error.
func ZoneLinkName(zone string) (string, error) {
	if zone == "" {
		return "", fmt.Errorf("zone name is empty: give the zone a name of 1 to %d characters", MaxZoneNameLen)
	}
	if len(zone) > MaxZoneNameLen {
		return "", fmt.Errorf("zone name %q is %d characters long: systemd-nspawn names the zone bridge \"vz-%s\" without shortening, so zone names are limited to %d characters; choose a shorter name",
			zone, len(zone), zone, MaxZoneNameLen)
	}
	name := "vz-" + zone
	if err := ValidIfname(name); err != nil {
		return "", fmt.Errorf("zone name %q: %w", zone, err)
	}
	return name, nil
}

// MacvlanName returns the container side name nspawn gives a macvlan link on
// top of the host interface iface (--network-macvlan=).
func MacvlanName(iface string) string {
	return ShortenIfname("mv-" + iface)
}

// IpvlanName returns the container side name nspawn gives an ipvlan link on
// top of the host interface iface (--network-ipvlan=).
func IpvlanName(iface string) string {
	return ShortenIfname("iv-" + iface)
}

// ValidIfname reports, as an error naming the problem, whether name is
// accepted as an interface name by the kernel and by systemd's
// ifname_valid(): 1 to 15 bytes, not "." or "..", not all digits, and no
// byte <= 0x20, >= 0x7f, ':', '/' or '%'.
func ValidIfname(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > MaxIfnameLen:
		return fmt.Errorf("interface name %q is %d bytes long, the kernel allows at most %d", name, len(name), MaxIfnameLen)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.Trim(name, "0123456789") == "":
		// systemd refuses all-digit names: they read as interface indexes.
		return fmt.Errorf("interface name %q is all digits, which systemd reads as an interface index", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= 0x20 || c >= 0x7f || c == ':' || c == '/' || c == '%' {
			what := fmt.Sprintf("%q", rune(c))
			if c < 0x20 || c >= 0x7f {
				what = fmt.Sprintf("0x%02x", c)
			}
			return fmt.Errorf("interface name %q has the invalid byte %s at offset %d (spaces, control characters, non-ASCII, ':', '/' and '%%' are not allowed)", name, what, i)
		}
	}
	return nil
}
