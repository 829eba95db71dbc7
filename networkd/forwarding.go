package networkd

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
)

// Global IP forwarding, and how it moved in systemd 256.
//
// systemd 252 turns the global switch (net.ipv4.ip_forward,
// net.ipv6.conf.all.forwarding) on from a .network file's IPForward= and
// from IPMasquerade= for the families they name. systemd 256 and later
// ignore IPForward= (a deprecation warning, nothing else) and take the
// global switch from networkd.conf's [Network] IPv4Forwarding= and
// IPv6Forwarding=; a link's IPMasquerade= still turns the global switch of
// its families on when networkd.conf leaves it unset, and IPv6SendRA= turns
// on the link's own IPv6 forwarding only. The kernel forwards IPv6 only
// with all.forwarding = 1 (a link's own flag decides router behaviour, not
// forwarding), and IPv4 only for packets arriving on a link whose flag is
// on, the uplink included. So on 256 and later a host-side link whose
// masquerade leaves a family out (a routed global prefix with masquerade =
// "ipv4", or "no") forwards that family only if networkd.conf says so:
// nspawnctl owns a drop-in per family for that.

// GlobalForwardingSince is the first systemd version whose networkd ignores
// IPForward= and sets global forwarding from networkd.conf only.
const GlobalForwardingSince = 256

// ConfDropInDir is the drop-in directory of networkd.conf.
const ConfDropInDir = "/etc/systemd/networkd.conf.d"

// Families of IP forwarding.
const (
	IPv4 = "ipv4"
	IPv6 = "ipv6"
)

// ForwardingFamilies returns the families a host-side link with
// IPMasquerade=masquerade (empty: "both") must forward although its
// masquerade does not name them. These are the families that Forwarding's
// IPForward=yes turns on on systemd 252.
func ForwardingFamilies(masquerade Masquerade) []string {
	switch cmp.Or(masquerade, MasqueradeBoth) {
	case MasqueradeIPv4:
		return []string{IPv6}
	case MasqueradeIPv6:
		return []string{IPv4}
	case MasqueradeBoth:
		return nil
	}
	return []string{IPv4, IPv6}
}

// ForwardingDropInPath is nspawnctl's networkd.conf drop-in that turns on
// the global forwarding of family on systemd 256 and later.
func ForwardingDropInPath(family string) string {
	return path.Join(ConfDropInDir, "nspawnctl-"+family+"-forwarding.conf")
}

// ForwardingSysctl is the global forwarding switch of family under /proc/sys.
func ForwardingSysctl(family string) string {
	if family == IPv4 {
		return "net/ipv4/ip_forward"
	}
	return "net/ipv6/conf/all/forwarding"
}

// RenderForwardingDropIn renders ForwardingDropInPath(family). Every machine
// that needs the family records the same bytes, and the file goes with the
// last of them.
func RenderForwardingDropIn(family string) ([]byte, error) {
	key := map[string]string{IPv4: "IPv4Forwarding", IPv6: "IPv6Forwarding"}[family]
	if key == "" {
		return nil, fmt.Errorf("networkd: no forwarding setting for family %q", family)
	}
	b := unitfile.New(
		"Managed by nspawnctl: global "+family+" forwarding, for machines whose host-side masquerade",
		"leaves "+family+" out (a routed prefix, or masquerade = \"no\"). systemd 256 and later ignore",
		"IPForward= in .network files. Do not edit: nspawnctl removes this file with the last such machine.")
	b.Set("Network", key, "yes")
	return b.Bytes()
}

var versionRE = regexp.MustCompile(`(?:^|systemd |v)(\d{3,})`)

// ParseSystemdVersion returns the major version in a systemd version string
// such as "252.39-1~deb12u1", "systemd 252 (252.39-1~deb12u1)" or "v256";
// 0 if there is none.
func ParseSystemdVersion(s string) int {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// SystemdVersionLine returns the first line of "systemctl --version"
// (e.g. "systemd 252 (252.39-1~deb12u1)"), which needs no system bus.
func SystemdVersionLine(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "systemctl", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("reading systemd's version (systemctl --version): %w", err)
	}
	first, _, _ := bytes.Cut(out, []byte("\n"))
	return strings.TrimSpace(string(first)), nil
}

// SystemdVersion returns the installed systemd's major version from
// "systemctl --version", which needs no system bus (plan runs without one).
func SystemdVersion(ctx context.Context) (int, error) {
	first, err := SystemdVersionLine(ctx)
	if err != nil {
		return 0, err
	}
	v := ParseSystemdVersion(first)
	if v == 0 {
		return 0, fmt.Errorf("reading systemd's version: systemctl --version printed %q", first)
	}
	return v, nil
}
