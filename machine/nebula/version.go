package nebula

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	"github.com/slackhq/nebula/cert"
)

// Version is a nebula release, as `nebula -version` prints it.
type Version struct {
	Major, Minor, Patch int
}

// String prints the version as nebula does (1.6.1).
func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less orders versions.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// IsZero reports an unknown version.
func (v Version) IsZero() bool { return v == Version{} }

// Versions whose config keys nspawnctl knows. Older releases ignore keys they
// do not know without a word, so every feature nspawnctl renders is tied to
// the release that introduced it.
var (
	// MinVersion is the oldest nebula nspawnctl supports: Debian bookworm's.
	MinVersion = Version{1, 6, 1}
	// localCIDRVersion introduced firewall rules' local_cidr.
	localCIDRVersion = Version{1, 7, 0}
)

var versionRE = regexp.MustCompile(`(?m)^Version:\s*v?(\d+)\.(\d+)\.(\d+)`)

// ParseVersion reads the output of `nebula -version`.
func ParseVersion(out string) (Version, error) {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return Version{}, fmt.Errorf("cannot read a version from %q (expected \"Version: X.Y.Z\")", out)
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	v.Patch, _ = strconv.Atoi(m[3])
	return v, nil
}

// DefaultBinary is where Debian's nebula package installs nebula.
const DefaultBinary = "/usr/bin/nebula"

// FindBinary returns the absolute path of the nebula on PATH, the one the
// sidecar unit will run.
func FindBinary() (string, error) {
	p, err := exec.LookPath("nebula")
	if err != nil {
		return "", fmt.Errorf("nebula is not installed on this host (%v); install it (Debian: apt-get install nebula) to use a nebula block", err)
	}
	return p, nil
}

// DetectVersion runs `BINARY -version` (bounded in time) and parses it.
func DetectVersion(ctx context.Context, binary string) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "-version").CombinedOutput()
	if err != nil {
		return Version{}, fmt.Errorf("running %s -version: %v (%s); check that nebula is installed and runs", binary, err, out)
	}
	v, err := ParseVersion(string(out))
	if err != nil {
		return Version{}, fmt.Errorf("%s -version: %w", binary, err)
	}
	return v, nil
}

// Required returns the oldest nebula that implements every setting cfg uses,
// and for each setting that needs more than MinVersion, why. A nebula older
// than that would load the config and silently drop those settings (for
// local_cidr: accept traffic to any local address), so nspawnctl refuses it.
func Required(cfg *Settings) (Version, []string) {
	need := MinVersion
	var why []string
	for dir, rules := range map[string][]Rule{"inbound": cfg.Inbound, "outbound": cfg.Outbound} {
		for i, r := range rules {
			if r.LocalCIDR.IsValid() {
				why = append(why, fmt.Sprintf("%s rule %d uses local_cidr (nebula %s or later)", dir, i+1, localCIDRVersion))
				if need.Less(localCIDRVersion) {
					need = localCIDRVersion
				}
			}
		}
	}
	if cfg.CertVersion == cert.Version2 {
		why = append(why, fmt.Sprintf("cert_version = 2 (version 2 certificates: nebula %s or later)", v2CertVersion))
		if need.Less(v2CertVersion) {
			need = v2CertVersion
		}
	}
	sortStrings(why)
	return need, why
}

// CheckVersion fails when nebula v would ignore part of cfg, naming each
// setting and the remedy.
func CheckVersion(machine string, cfg *Settings, v Version) error {
	if v.Less(MinVersion) {
		return fmt.Errorf("nebula %s is too old for machine %s: nspawnctl needs %s or later; upgrade nebula", v, machine, MinVersion)
	}
	if cfg.CertVersion == cert.Version2 && v.Less(v2CertVersion) {
		return fmt.Errorf("machine %s asks for a version 2 certificate (cert_version = 2), but this host has nebula %s, which reads only version 1 (version 2 needs nebula %s or later); keep cert_version = 1 (the default) while any host of network %q runs an older nebula, or upgrade nebula here",
			machine, v, v2CertVersion, cfg.Network)
	}
	need, why := Required(cfg)
	if v.Less(need) {
		return fmt.Errorf("the nebula block of machine %s needs nebula %s or later, but this host has %s, which would silently ignore: %s; upgrade nebula or remove those settings",
			machine, need, v, joinAnd(why))
	}
	return nil
}

// CheckRules finds firewall rules that nebula refuses at start although they
// look valid: 1.6.1 stops with "only one of group or groups should be
// defined" for a rule that has both.
func CheckRules(machine string, cfg *Settings) error {
	for dir, rules := range map[string][]Rule{"inbound": cfg.Inbound, "outbound": cfg.Outbound} {
		for i, r := range rules {
			if r.Group != "" && len(r.Groups) > 0 {
				return fmt.Errorf("the nebula %s rule %d of machine %s has both group and groups, which nebula refuses; put the group into groups (all must match) or split the rule (either matches)", dir, i+1, machine)
			}
		}
	}
	return nil
}
