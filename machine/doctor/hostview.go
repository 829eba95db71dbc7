package doctor

import "errors"

// HostView is everything doctor reads from the host. Each method is one
// narrow probe, so that tests can describe a host as plain data and the real
// implementation ([System]) can fail probe by probe: a probe that fails makes
// the checks depending on it skip or warn, never the whole run.
type HostView interface {
	// ReadFile returns the contents of an absolute path on the host.
	ReadFile(path string) ([]byte, error)
	// Glob returns the existing paths matching an absolute pattern
	// (path/filepath.Match syntax), sorted; a literal path tests existence.
	Glob(pattern string) ([]string, error)
	// Sysctl returns the trimmed value of a sysctl given by its /proc/sys
	// path, e.g. "net/ipv4/ip_forward".
	Sysctl(name string) (string, error)
	// Links lists the host's network interfaces with networkd's view of them.
	Links() ([]Link, error)
	// Unit returns the state of a systemd unit; an error means systemd could
	// not be asked (no D-Bus, no systemd), not that the unit is missing.
	Unit(name string) (Unit, error)
	// SystemdVersion returns systemd's version string, e.g. "252.39-1~deb12u1".
	SystemdVersion() (string, error)
	// KernelRelease returns the running kernel's release, e.g. "6.1.0-18-amd64".
	KernelRelease() (string, error)
	// Ruleset returns the nftables ruleset as "nft -j list ruleset" prints it.
	Ruleset() ([]byte, error)
	// Processes returns the command names (comm) of the running processes.
	Processes() ([]string, error)
}

// Link is one network interface of the host.
type Link struct {
	Index int
	Name  string
	// Kind is the rtnetlink kind ("veth", "bridge", ...; empty for physical links).
	Kind string
	// SetupState is networkd's administrative state of the link
	// ("configured", "configuring", "unmanaged", "failed", "linger",
	// "pending", "initialized"); empty when networkd could not be asked.
	SetupState string
	// OperState is networkd's operational state ("routable", "carrier",
	// "no-carrier", ...); empty when unknown.
	OperState string
	// NetworkFile is the .network file networkd applied, when known.
	NetworkFile string
}

// Unit is the state of one systemd unit as systemd reports it.
type Unit struct {
	// LoadState is "loaded", "not-found", "masked", ...
	LoadState string
	// ActiveState is "active", "inactive", "failed", ...
	ActiveState string
	// UnitFileState is "enabled", "disabled", "static", "masked", ... or empty.
	UnitFileState string
	// FragmentPath is the unit file systemd loaded, with DropInPaths its drop-ins.
	FragmentPath string
	DropInPaths  []string
}

// Enabled reports whether the unit starts at boot or with another unit.
func (u Unit) Enabled() bool {
	switch u.UnitFileState {
	case "enabled", "enabled-runtime", "linked", "linked-runtime", "alias":
		return true
	}
	return false
}

// Found reports whether systemd knows a unit file for the unit.
func (u Unit) Found() bool { return u.LoadState != "" && u.LoadState != "not-found" }

// ErrUnsupported is returned by probes that cannot work on this host (for
// example nft is not installed); checks turn it into a skip.
var ErrUnsupported = errors.New("not supported on this host")
