package nebula

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"time"
)

// BlocklistFile is the file in nspawnctl's state directory (default
// /var/lib/nspawnctl) where it keeps, per network, the fingerprints of
// certificates of machines removed from this host. Every sidecar of that
// network on this host gets them in pki.blocklist, so that a key copied out
// of a removed machine cannot join the overlay here again.
const BlocklistFile = "nebula-blocklist.json"

// MetaPath is the file in a machine's directory that says what the
// commands without the machine's HCL (renew, remove) need: its network and,
// when nspawnctl signs, the CA key and the certificate's lifetime.
func MetaPath(machine string) string { return path.Join(Dir(machine), "nspawnctl.json") }

// Meta is the content of MetaPath.
type Meta struct {
	Network string `json:"network"`
	// CAKey is the path of the CA key that signs the certificate; empty when
	// the block gives cert and key (nspawnctl cannot renew those).
	CAKey       string `json:"ca_key,omitempty"`
	Duration    string `json:"duration,omitempty"`
	RenewBefore string `json:"renew_before,omitempty"`
}

func metaOf(c *Settings) ([]byte, error) {
	m := Meta{Network: c.Network}
	if c.signs() {
		m.CAKey, m.Duration, m.RenewBefore = c.CAKey, c.DurationText, c.RenewBeforeText
	}
	b, err := json.MarshalIndent(m, "", "  ")
	return append(b, '\n'), err
}

// ReadMeta reads a machine's MetaPath.
func ReadMeta(read func(string) ([]byte, error), machine string) (*Meta, error) {
	b, err := read(MetaPath(machine))
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w; re-apply machine %s to rewrite it", MetaPath(machine), err, machine)
	}
	return &m, nil
}

// Blocked is one certificate of a removed machine.
type Blocked struct {
	Fingerprint string    `json:"fingerprint"`
	Machine     string    `json:"machine"`
	NotAfter    time.Time `json:"not_after"`
	Removed     time.Time `json:"removed"`
}

// Blocklist is the content of BlocklistPath: network name to blocked certificates.
type Blocklist map[string][]Blocked

// LoadBlocklist reads the blocklist at path; a missing file is empty.
func LoadBlocklist(path string) (Blocklist, error) {
	bl := Blocklist{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return bl, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading the nebula blocklist %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &bl); err != nil {
		return nil, fmt.Errorf("the nebula blocklist %s: %w; it lists certificates of removed machines: repair it from a backup (removing it trusts those certificates again)", path, err)
	}
	return bl, nil
}

// Marshal encodes the blocklist for BlocklistFile.
func (bl Blocklist) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(bl, "", "  ")
	return append(b, '\n'), err
}

// Fingerprints are the blocked fingerprints of network at now, sorted.
// Certificates past their expiry are left out: nebula refuses them anyway,
// and the list would otherwise only grow.
func (bl Blocklist) Fingerprints(network string, now time.Time) []string {
	var out []string
	for _, b := range bl[network] {
		if b.NotAfter.IsZero() || now.Before(b.NotAfter) {
			out = append(out, b.Fingerprint)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Add blocks a machine's certificate in network; it reports false when the
// fingerprint was blocked already.
func (bl Blocklist) Add(network string, b Blocked) bool {
	for _, o := range bl[network] {
		if o.Fingerprint == b.Fingerprint {
			return false
		}
	}
	bl[network] = append(bl[network], b)
	return true
}

// Revocation is what removing a machine's sidecar blocks.
type Revocation struct {
	Network string
	Blocked Blocked
}

// Revoke reads the certificate and network of machine's sidecar (before
// remove deletes them) and returns what to add to the blocklist.
func Revoke(read func(string) ([]byte, error), machine string, now time.Time) (*Revocation, error) {
	meta, err := ReadMeta(read, machine)
	if err != nil {
		return nil, fmt.Errorf("machine %s: reading the network of its nebula sidecar: %w", machine, err)
	}
	hc, err := readHostCert(read, machine)
	if err != nil {
		return nil, err
	}
	fp, err := hc.Fingerprint()
	if err != nil {
		return nil, err
	}
	return &Revocation{Network: meta.Network, Blocked: Blocked{Fingerprint: fp, Machine: machine, NotAfter: hc.NotAfter, Removed: now.UTC().Truncate(time.Second)}}, nil
}

// readHostCert reads and parses the certificate of machine's sidecar.
func readHostCert(read func(string) ([]byte, error), machine string) (*HostCert, error) {
	certPEM, err := read(CertPath(machine))
	if err != nil {
		return nil, fmt.Errorf("machine %s: reading its nebula certificate: %w", machine, err)
	}
	hc, err := ParseHostCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("machine %s: its nebula certificate %s: %w", machine, CertPath(machine), err)
	}
	return hc, nil
}
