package nebula

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/slackhq/nebula/cert"
)

// v2CertVersion is the first nebula that reads version 2 certificates.
var v2CertVersion = Version{1, 10, 0}

// Problem is a mistake in a nebula block's certificate settings: the
// attribute it is about, and what to change.
type Problem struct {
	Attr, Summary, Detail string
}

// CertAttrs are the certificate attributes of a nebula block as written,
// what CertProblems checks.
type CertAttrs struct {
	// CertVersion is cert_version (nil: unset).
	CertVersion *int
	// Address6, Duration and RenewBefore are address6, duration and
	// renew_before ("" when unset).
	Address6, Duration, RenewBefore string
	// Signs says the block names ca_key: nspawnctl signs its certificate.
	Signs bool
}

// CertProblems checks cert_version, address6, duration and renew_before,
// so that apply reports them at the attribute instead of at signing.
func CertProblems(c CertAttrs) []Problem {
	var out []Problem
	v := CertVersionOf(c.CertVersion)
	if v != cert.Version1 && v != cert.Version2 {
		out = append(out, Problem{"cert_version", "Invalid certificate version",
			fmt.Sprintf("cert_version must be 1 (every nebula reads it) or 2 (nebula %s and later, IPv6 overlay addresses), not %d.", v2CertVersion, *c.CertVersion)})
	}
	if c.Address6 != "" {
		p, err := netip.ParsePrefix(c.Address6)
		switch {
		case err != nil || !p.Addr().Is6() || p.Addr().Is4In6():
			out = append(out, Problem{"address6", "Invalid IPv6 overlay address", fmt.Sprintf("address6 %q is not an IPv6 address in CIDR form, e.g. \"fd42::5/64\".", c.Address6)})
		case v == cert.Version1:
			out = append(out, Problem{"address6", "IPv6 address in a version 1 certificate",
				fmt.Sprintf("Version 1 certificates hold one IPv4 address. Set cert_version = 2 (needs nebula %s or later on every host of the network), or remove address6.", v2CertVersion)})
		case !c.Signs:
			out = append(out, Problem{"address6", "address6 without ca_key", "address6 goes into a certificate nspawnctl signs; with cert and key the addresses come from that certificate. Remove address6, or sign with ca_key."})
		}
	}
	d, errD := parseDur(c.Duration)
	if errD != "" {
		out = append(out, Problem{"duration", "Invalid certificate duration", "duration: " + errD})
	} else if d != 0 && !c.Signs {
		out = append(out, Problem{"duration", "duration without ca_key", "Only certificates nspawnctl signs (ca_key) get a duration; a given cert keeps its own. Remove duration, or sign with ca_key."})
	}
	r, errR := parseDur(c.RenewBefore)
	if errR != "" {
		out = append(out, Problem{"renew_before", "Invalid renewal window", "renew_before: " + errR})
	} else if d != 0 && r >= d {
		out = append(out, Problem{"renew_before", "Renewal window not shorter than the lifetime",
			fmt.Sprintf("renew_before (%s) must be shorter than duration (%s), or every apply would sign a new certificate; the default is a third of duration.", r, d)})
	}
	return out
}

func parseDur(s string) (time.Duration, string) {
	if s == "" {
		return 0, ""
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Sprintf("%q is not a duration; write e.g. \"720h\" (30 days) or \"24h\".", s)
	}
	if d < time.Minute {
		return 0, fmt.Sprintf("%q is shorter than a minute; nebula certificates carry whole seconds and renewal needs time to reach the sidecar.", s)
	}
	return d, ""
}

// CertVersionOf is the certificate version cert_version asks for (1 when
// it is unset).
func CertVersionOf(certVersion *int) cert.Version {
	if certVersion == nil {
		return cert.Version1
	}
	return cert.Version(*certVersion)
}

// ParseLifetime reads a block's duration and renew_before ("" when unset)
// into a certificate's lifetime (zero: until the CA ends) and its renewal
// window: renew_before, else a third of the duration, else RenewBefore.
// Validation reports the same mistakes at the attributes (CertProblems);
// renew gets them from a MetaPath file edited by hand.
func ParseLifetime(duration, renewBefore string) (time.Duration, time.Duration, error) {
	d, msg := parseDur(duration)
	if msg != "" {
		return 0, 0, errors.New("duration: " + msg)
	}
	r, msg := parseDur(renewBefore)
	if msg != "" {
		return 0, 0, errors.New("renew_before: " + msg)
	}
	switch {
	case r > 0:
		return d, r, nil
	case d > 0:
		return d, d / 3, nil
	}
	return 0, RenewBefore, nil
}

// ParseCAVersions reads `nebula ca init --version`: "1", "2" or "1,2".
func ParseCAVersions(s string) ([]cert.Version, error) {
	var out []cert.Version
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "1":
			out = append(out, cert.Version1)
		case "2":
			out = append(out, cert.Version2)
		default:
			return nil, fmt.Errorf("--version %q: give 1 (every nebula), 2 (nebula %s and later) or 1,2 (a bundle of both, to migrate)", s, v2CertVersion)
		}
	}
	if len(out) == 2 && out[0] == out[1] {
		out = out[:1]
	}
	return out, nil
}
