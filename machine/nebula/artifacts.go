package nebula

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/slackhq/nebula/cert"
)

// File is one file the sidecar needs. Host files go to Path on the host with
// Mode; InRoot files go to Path inside the machine's root file system.
type File struct {
	Path    string
	Content []byte
	Mode    uint32
	InRoot  bool
}

// Request is the input of Artifacts.
type Request struct {
	Machine  string
	Settings *Settings
	// Address is the overlay address when the block signs a certificate and
	// sets no address: allocated by the caller with Allocate from
	// Settings.Pool, and recorded in state.
	Address netip.Prefix
	// Version is the host's nebula (DetectVersion). Settings that version
	// would ignore are an error. The zero Version skips the check here;
	// prepare checks again at every start.
	Version Version
	// ReadFile reads a host file: the CA, a given certificate and key, and
	// what an earlier apply wrote (so that an unchanged machine keeps its
	// key and certificate). os.ReadFile when nil.
	ReadFile func(path string) ([]byte, error)
	// Blocklist are fingerprints of certificates removed from the
	// machine's network on this host (LoadBlocklist), put into
	// pki.blocklist so that a copied key of a removed machine is refused.
	Blocklist []string
	// Now and Rand are the clock and the randomness for signing (time.Now
	// and crypto/rand when zero).
	Now  time.Time
	Rand io.Reader
}

// Result is what Artifacts produced.
type Result struct {
	// Files are the host files (under Dir(machine), to be created 0700) and
	// the root's .network file.
	Files []File
	// Address is the machine's overlay address, as in its certificate.
	Address netip.Prefix
	// Expires is when the certificate expires.
	Expires time.Time
	// Signed says a new certificate was issued in this call.
	Signed bool
}

// RenewBefore is how long before expiry a signed certificate is re-issued on apply.
const RenewBefore = 30 * 24 * time.Hour

// Artifacts returns every file of machine's sidecar: config.yml with the CA,
// certificate and key inline (0600), the certificate, key and CA apart (for
// status and renewal), and the .network file inside the root. When the block
// names ca_key it signs a certificate (or keeps the one an earlier apply
// signed, while it still matches and is not about to expire); when it names
// cert and key it uses those.
func Artifacts(req Request) (*Result, error) {
	c := req.Settings
	name := req.Machine
	if c == nil {
		return nil, fmt.Errorf("machine %s has no nebula block", name)
	}
	read := req.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	rnd := req.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if !req.Version.IsZero() {
		if err := CheckVersion(name, c, req.Version); err != nil {
			return nil, err
		}
	}
	if err := CheckRules(name, c); err != nil {
		return nil, err
	}
	if p := c.ListenPort; p > 0 && p < 1024 {
		return nil, fmt.Errorf("the nebula block of machine %s listens on UDP port %d, below 1024, which the sidecar (only CAP_NET_ADMIN) may not bind; use a port of 1024 or more (4242 is nebula's usual)", name, p)
	}
	caPEM, err := read(c.CA)
	if err != nil {
		return nil, fmt.Errorf("reading the nebula CA certificate %s of machine %s: %w", c.CA, name, err)
	}
	var caKeyPEM []byte
	if c.signs() {
		if caKeyPEM, err = read(c.CAKey); err != nil {
			return nil, fmt.Errorf("reading the nebula CA key %s of machine %s: %w", c.CAKey, name, err)
		}
	}
	ca, err := ParseCA(caPEM, caKeyPEM, c.CA, c.CAKey)
	if err != nil {
		return nil, fmt.Errorf("machine %s: %w", name, err)
	}

	res := &Result{}
	var certPEM, keyPEM []byte
	if c.signs() {
		certPEM, keyPEM, res.Signed, err = signedCert(req, ca, read, now, rnd)
	} else {
		certPEM, keyPEM, err = givenCert(req, ca, read, now)
	}
	if err != nil {
		return nil, err
	}
	hc, err := ParseHostCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("the nebula certificate of machine %s: %w", name, err)
	}
	res.Address, res.Expires = hc.Address, hc.NotAfter

	console, err := consoleKeys(name, read, rnd)
	if err != nil {
		return nil, err
	}
	conf, err := RenderConfig(RenderInput{Machine: name, Settings: c, CA: caPEM, Cert: certPEM, Key: keyPEM, Console: &console, Blocklist: req.Blocklist})
	if err != nil {
		return nil, err
	}
	netw, err := RenderUnmanagedNetwork(c.Device)
	if err != nil {
		return nil, err
	}
	meta, err := metaOf(c)
	if err != nil {
		return nil, err
	}
	res.Files = []File{
		{Path: CAPath(name), Content: caPEM, Mode: FileMode},
		{Path: MetaPath(name), Content: meta, Mode: FileMode},
		{Path: ConfigPath(name), Content: conf, Mode: FileMode},
		{Path: CertPath(name), Content: certPEM, Mode: FileMode},
		{Path: KeyPath(name), Content: keyPEM, Mode: FileMode},
		{Path: ConsoleHostKeyPath(name), Content: console.Host, Mode: FileMode},
		{Path: ConsoleClientKeyPath(name), Content: console.Client, Mode: FileMode},
		{Path: UnmanagedNetworkPath, Content: netw, Mode: 0o644, InRoot: true},
	}
	return res, nil
}

// givenCert checks the certificate and key the block names: signed by the
// CA, valid now, the key its own, a version the host's nebula reads, and
// groups as the block says (a difference would make the firewall rules of
// peers mean something else than the config reads).
func givenCert(req Request, ca *CA, read func(string) ([]byte, error), now time.Time) ([]byte, []byte, error) {
	c, name := req.Settings, req.Machine
	certPEM, err := read(c.Cert)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the nebula certificate %s of machine %s: %w", c.Cert, name, err)
	}
	keyPEM, err := read(c.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the nebula key %s of machine %s: %w", c.Key, name, err)
	}
	hc, err := ParseHostCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("nebula certificate %s of machine %s: %w", c.Cert, name, err)
	}
	if hc.Cert.Version() != cert.Version1 && !req.Version.IsZero() && req.Version.Less(v2CertVersion) {
		return nil, nil, fmt.Errorf("nebula certificate %s of machine %s is version %d, which nebula %s cannot read; sign a version 1 certificate (nebula-cert sign -version 1)", c.Cert, name, hc.Cert.Version(), req.Version)
	}
	if err := hc.Verify(ca, now); err != nil {
		return nil, nil, fmt.Errorf("nebula certificate %s of machine %s does not verify against CA %s: %w; sign it with that CA or renew it", c.Cert, name, c.CA, err)
	}
	raw, _, curve, err := cert.UnmarshalPrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("nebula key %s of machine %s: %w", c.Key, name, err)
	}
	if err := hc.Cert.VerifyPrivateKey(curve, raw); err != nil {
		return nil, nil, fmt.Errorf("nebula key %s does not belong to certificate %s (machine %s): %w", c.Key, c.Cert, name, err)
	}
	if len(c.Groups) > 0 && !sameSet(c.Groups, hc.Groups) {
		return nil, nil, fmt.Errorf("machine %s: the nebula block says groups %v but certificate %s carries %v; groups come from the certificate, so remove groups from the block or re-sign the certificate", name, c.Groups, c.Cert, hc.Groups)
	}
	return certPEM, keyPEM, nil
}

// signedCert returns the certificate an earlier apply signed when it still
// fits, or signs a new one. The key is kept across renewals.
func signedCert(req Request, ca *CA, read func(string) ([]byte, error), now time.Time, rnd io.Reader) (certPEM, keyPEM []byte, signed bool, err error) {
	c, name := req.Settings, req.Machine
	addr := req.Address
	if c.Address.IsValid() {
		addr = c.Address
	}
	if !addr.IsValid() {
		return nil, nil, false, fmt.Errorf("machine %s has no nebula overlay address: set address in its nebula block, or a pool (nebula pool or defaults nebula_pool) to allocate one from", name)
	}
	hr := HostRequest{Name: name, Version: c.CertVersion, Address: addr, Address6: c.Address6, Groups: c.Groups}
	if c.Duration > 0 {
		hr.NotAfter = now.Add(c.Duration)
	}

	var pub []byte
	if old, err := read(KeyPath(name)); err == nil {
		if pub, err = PublicKeyOf(old); err == nil {
			keyPEM = old
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, fmt.Errorf("reading the nebula key %s of machine %s: %w", KeyPath(name), name, err)
	}
	if keyPEM != nil {
		if old, err := read(CertPath(name)); err == nil {
			if hc, err := ParseHostCert(old); err == nil && hc.matches(hr, pub, ca, now, c.RenewBefore) {
				return old, keyPEM, false, nil
			}
		}
	} else {
		if pub, keyPEM, err = GenerateHostKey(rnd); err != nil {
			return nil, nil, false, err
		}
	}
	certPEM, err = ca.Sign(hr, pub, now)
	if err != nil {
		return nil, nil, false, err
	}
	return certPEM, keyPEM, true, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
