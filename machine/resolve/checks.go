package resolve

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/nspawnctl/nspawnctl/nat"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// Checks on single values. Each returns "" when the value is fine, or a
// sentence that says what is wrong; the caller adds where and what to change.

// hostnameProblem applies systemd's hostname_is_valid rules, which machine
// names must satisfy: labels of letters, digits and '-', separated by '.', no
// label starting or ending with '-', at most 64 characters in all.
func hostnameProblem(name string) string {
	if name == "" {
		return "the name is empty"
	}
	if len(name) > 64 {
		return fmt.Sprintf("the name is %d characters long; systemd allows at most 64", len(name))
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return "the name has an empty label (a leading, trailing or doubled '.')"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Sprintf("the label %q starts or ends with '-'", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Sprintf("the character %q is not allowed; use letters, digits, '-' and '.'", r)
			}
		}
	}
	return ""
}

// unsafeValueProblem reports what in s could break out of a unit-file line.
func unsafeValueProblem(s string) string { return unitfile.UnsafeValue(s) }

// absPathProblem checks a path that must be absolute and normalised: no
// "..", no "." components, no doubled slashes, and safe to render.
func absPathProblem(p string) string {
	if msg := unsafeValueProblem(p); msg != "" {
		return msg
	}
	if !strings.HasPrefix(p, "/") {
		return "the path is relative; give an absolute path starting with /"
	}
	for _, c := range strings.Split(p[1:], "/") {
		if c == ".." {
			return "the path contains '..', which could escape the directory it is meant to stay in"
		}
	}
	if path.Clean(p) != p {
		return fmt.Sprintf("the path is not in canonical form; write %q", path.Clean(p))
	}
	if strings.ContainsAny(p, ": ") {
		return "the path contains ':' or a space, which nspawn's Bind= syntax cannot express"
	}
	return ""
}

// PortRange is nat's inclusive port range; forward_port blocks resolve to it.
type PortRange = nat.PortRange

// rangesOverlap reports whether two port ranges share a port.
func rangesOverlap(a, b PortRange) bool { return a.First <= b.Last && b.First <= a.Last }

// parsePortRange parses "80" or "8000-8010".
func parsePortRange(s string) (PortRange, string) {
	first, last, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, msg := parsePort(first)
	if msg != "" {
		return PortRange{}, msg
	}
	if !isRange {
		return PortRange{First: a, Last: a}, ""
	}
	b, msg := parsePort(last)
	if msg != "" {
		return PortRange{}, msg
	}
	if b < a {
		return PortRange{}, fmt.Sprintf("the range %s runs backwards; write the lower port first", s)
	}
	return PortRange{First: a, Last: b}, ""
}

func parsePort(s string) (uint16, string) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Sprintf("%q is not a port number; write a number from 1 to 65535, or a range like 8000-8010", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Sprintf("port %d is outside 1..65535", n)
	}
	return uint16(n), ""
}

// parseCIDR parses an interface address in CIDR form ("10.0.0.1/24"), keeping
// the host bits: the address is the interface's, the length its network's.
func parseCIDR(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil && a.Zone() == "" {
			length := "24"
			if a.Is6() {
				length = "64"
			}
			return netip.Prefix{}, fmt.Sprintf("%q has no prefix length; write it in CIDR form, e.g. %s/%s", s, s, length)
		}
		if strings.Contains(s, "%") {
			// netip refuses zones in prefixes; say so rather than "not CIDR".
			return netip.Prefix{}, fmt.Sprintf("%q has a zone index, which a configured address cannot have", s)
		}
		return netip.Prefix{}, fmt.Sprintf("%q is not an address in CIDR form (like 10.0.0.1/24 or fd00::1/64)", s)
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Sprintf("%q has a zone index, which a configured address cannot have", s)
	}
	return p, ""
}

// parseNetwork parses a network prefix whose host bits must be zero.
func parseNetwork(s string) (netip.Prefix, string) {
	p, msg := parseCIDR(s)
	if msg != "" {
		return p, msg
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Sprintf("%q has host bits set; the network is %s", s, p.Masked())
	}
	return p, ""
}

var (
	capabilityRE = regexp.MustCompile(`^CAP_[A-Z_]+$`)
	envNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// timespanRE accepts systemd time spans such as "90", "90s", "2min 30s", "infinity".
	// Only spaces separate its parts: \s would let a newline through into TimeoutStartSec=.
	timespanRE = regexp.MustCompile(`^(infinity|([0-9]+(\.[0-9]+)? *(us|usec|ms|msec|s|sec|second|seconds|m|min|minute|minutes|h|hr|hour|hours|d|day|days|w|week|weeks)? *)+)$`)
	// sizeRE accepts systemd sizes ("512M", "2G", "infinity") and percentages.
	sizeRE = regexp.MustCompile(`^(infinity|[0-9]+(\.[0-9]+)?[KMGTPE]?|[0-9]+(\.[0-9]+)?%)$`)
	// debPackageRE is a Debian package name (policy 5.6.1) as apt takes it,
	// with an optional architecture and version or release.
	debPackageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?([=/][A-Za-z0-9.+~:-]+)?$`)
	hexRE        = regexp.MustCompile(`^(0x)?[0-9a-fA-F]{1,16}$`)
	percentRE    = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?%$`)
)

// validIfname reports whether s is an interface name systemd accepts. It
// replaces a regular expression that let control characters through, which
// then reached Bridge=, MACVLAN= and [Match] Name= lines.
func validIfname(s string) bool { return networkd.ValidIfname(s) == nil }

// cmdlinePathProblem checks a path that nspawnctl puts on an ExecStart=
// command line of a unit drop-in, where systemd expands % specifiers and $
// variables and interprets quotes and backslashes.
func cmdlinePathProblem(p string) string {
	if msg := absPathProblem(p); msg != "" {
		return msg
	}
	if strings.ContainsAny(p, "%$\\\"'") {
		return "the path contains '%', '$', a quote or a backslash, which systemd would expand or unquote on the ExecStart= line it goes on"
	}
	return ""
}

// oneOf returns "" when v is one of allowed, else a sentence listing them.
func oneOf[T ~string](v T, allowed ...T) string {
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	return fmt.Sprintf("%q is not one of %s", v, strings.Join(quoteAll(allowed), ", "))
}

func quoteAll[T ~string](ss []T) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(string(s))
	}
	return out
}
