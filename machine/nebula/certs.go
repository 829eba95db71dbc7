package nebula

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/slackhq/nebula/cert"
)

// Certificates are version 1 unless a block asks for version 2
// (cert_version = 2): Debian bookworm's nebula 1.6.1 and trixie's 1.9.3
// reject version 2 ("bytes did not contain a proper nebula certificate
// banner"); v1 limits a host to one IPv4 overlay address. Version 2, read by
// nebula 1.10 and later, carries several networks, IPv6 among them.

// CA is a nebula certificate authority: its certificates (a v1, a v2, or a
// bundle of both with one key, as nebula-cert ca -version 1 and 2 make),
// and its ed25519 signing key when nspawnctl signs with it.
type CA struct {
	// Cert is the CA's first certificate in its file; V1 and V2 are the
	// certificate of each version the file holds (nil when absent).
	Cert   cert.Certificate
	V1, V2 cert.Certificate
	// PEM is the CA certificate as read, so the sidecar trusts exactly that.
	PEM []byte
	Key ed25519.PrivateKey
}

// ForVersion returns the CA certificate that signs host certificates of
// version v, or nil when the CA has none.
func (ca *CA) ForVersion(v cert.Version) cert.Certificate {
	if v == cert.Version2 {
		return ca.V2
	}
	return ca.V1
}

// NewCA creates a self-signed CA called name, valid for duration from now,
// optionally limited to networks and groups (nebula then refuses host
// certificates outside them). versions says which certificates the file
// holds: [1] (every nebula reads it), [2] (nebula 1.10 and later), or [1 2],
// a bundle of both signed by one key, the way to migrate a network from v1
// to v2. It returns the certificate(s) and key as PEM.
func NewCA(name string, duration time.Duration, networks []netip.Prefix, groups []string, versions []cert.Version, now time.Time, rand io.Reader) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("a nebula CA needs a name (--name)")
	}
	if duration <= 0 {
		return nil, nil, fmt.Errorf("the CA's duration must be positive, got %s", duration)
	}
	if len(versions) == 0 {
		versions = []cert.Version{cert.Version1}
	}
	for _, v := range versions {
		if v != cert.Version1 && v != cert.Version2 {
			return nil, nil, fmt.Errorf("CA certificate version %d: nebula knows versions 1 and 2", v)
		}
	}
	if slices.Contains(versions, cert.Version1) {
		for _, n := range networks {
			if !n.Addr().Is4() {
				return nil, nil, fmt.Errorf("CA network %s: version 1 certificates (what nebula before 1.10 reads) hold IPv4 networks only; make a version 2 CA (--version 2) for IPv6", n)
			}
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the CA key: %w", err)
	}
	// v1 certificates carry whole seconds; truncating keeps NotBefore from
	// lying after what nebula-cert print shows.
	now = now.Truncate(time.Second)
	for _, v := range versions {
		tbs := &cert.TBSCertificate{
			Version:   v,
			Name:      name,
			Networks:  networks,
			Groups:    groups,
			IsCA:      true,
			NotBefore: now,
			NotAfter:  now.Add(duration),
			PublicKey: pub,
			Curve:     cert.Curve_CURVE25519,
		}
		c, err := tbs.Sign(nil, cert.Curve_CURVE25519, priv)
		if err != nil {
			return nil, nil, fmt.Errorf("signing the version %d CA %s: %w", v, name, err)
		}
		p, err := c.MarshalPEM()
		if err != nil {
			return nil, nil, err
		}
		certPEM = append(certPEM, p...)
	}
	return certPEM, cert.MarshalSigningPrivateKeyToPEM(cert.Curve_CURVE25519, priv), nil
}

// ParseCA reads a CA certificate and, when keyPEM is not nil, its signing
// key, checking that they belong together. certName and keyName name the
// files in errors.
func ParseCA(certPEM, keyPEM []byte, certName, keyName string) (*CA, error) {
	ca := &CA{PEM: certPEM}
	for rest := certPEM; len(bytes.TrimSpace(rest)) > 0; {
		c, r, err := cert.UnmarshalCertificateFromPEM(rest)
		if err != nil {
			return nil, fmt.Errorf("CA certificate %s: %w; give a nebula CA certificate (nspawnctl nebula ca init makes one)", certName, err)
		}
		rest = r
		if !c.IsCA() {
			return nil, fmt.Errorf("%s is a host certificate, not a CA; point ca at the CA's certificate", certName)
		}
		slot := &ca.V1
		if c.Version() == cert.Version2 {
			slot = &ca.V2
		}
		if *slot != nil {
			return nil, fmt.Errorf("CA certificate %s holds two version %d certificates; nspawnctl signs with one CA, a v1, a v2 or a bundle of one of each", certName, c.Version())
		}
		*slot = c
		if ca.Cert == nil {
			ca.Cert = c
		} else if !bytes.Equal(ca.Cert.PublicKey(), c.PublicKey()) {
			return nil, fmt.Errorf("CA certificate %s bundles certificates of two different keys; a v1+v2 bundle is one CA key certified twice (nspawnctl nebula ca init --version 1,2)", certName)
		}
	}
	if ca.Cert == nil {
		return nil, fmt.Errorf("CA certificate %s holds no certificate; give a nebula CA certificate (nspawnctl nebula ca init makes one)", certName)
	}
	c := ca.Cert
	if keyPEM == nil {
		return ca, nil
	}
	key, _, curve, err := cert.UnmarshalSigningPrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w (an encrypted key cannot be used unattended; give an unencrypted ed25519 key)", keyName, err)
	}
	if curve != cert.Curve_CURVE25519 {
		return nil, fmt.Errorf("CA key %s is %s; nspawnctl signs with ed25519 CA keys only", keyName, curve)
	}
	if err := c.VerifyPrivateKey(curve, key); err != nil {
		return nil, fmt.Errorf("CA key %s does not belong to CA certificate %s: %w", keyName, certName, err)
	}
	ca.Key = ed25519.PrivateKey(key)
	return ca, nil
}

// HostRequest is what goes into a machine's certificate.
type HostRequest struct {
	Name string
	// Version is the certificate version (cert.Version1 when zero).
	Version cert.Version
	// Address is the first network; Address6, only in a version 2
	// certificate, the IPv6 one after it (zero: none).
	Address, Address6 netip.Prefix
	Groups            []string
	// NotAfter is when the certificate expires; zero means one second
	// before the CA does, as nebula-cert sign does.
	NotAfter time.Time
}

func (req HostRequest) notAfter(ca *CA) time.Time {
	end := ca.Cert.NotAfter().Add(-time.Second)
	if req.NotAfter.IsZero() || req.NotAfter.After(end) {
		return end
	}
	return req.NotAfter.Truncate(time.Second)
}

func (req HostRequest) version() cert.Version {
	if req.Version == 0 {
		return cert.Version1
	}
	return req.Version
}

// networks are the certificate's networks, IPv4 first.
func (req HostRequest) networks() []netip.Prefix {
	n := []netip.Prefix{req.Address}
	if req.Address6.IsValid() {
		n = append(n, req.Address6)
	}
	return n
}

// GenerateHostKey makes an X25519 key pair for a host certificate, PEM-encoded
// as nebula reads it.
func GenerateHostKey(rand io.Reader) (pub []byte, keyPEM []byte, err error) {
	k, err := ecdh.X25519().GenerateKey(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("generating a nebula host key: %w", err)
	}
	return k.PublicKey().Bytes(), cert.MarshalPrivateKeyToPEM(cert.Curve_CURVE25519, k.Bytes()), nil
}

// PublicKeyOf returns the X25519 public key of a PEM host key.
func PublicKeyOf(keyPEM []byte) ([]byte, error) {
	raw, _, curve, err := cert.UnmarshalPrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if curve != cert.Curve_CURVE25519 {
		return nil, fmt.Errorf("the host key is %s; nspawnctl uses X25519 host keys", curve)
	}
	k, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		return nil, err
	}
	return k.PublicKey().Bytes(), nil
}

// Sign issues a host certificate of req's version for pub (X25519) under ca.
func (ca *CA) Sign(req HostRequest, pub []byte, now time.Time) ([]byte, error) {
	if ca.Key == nil {
		return nil, errors.New("the CA's key is not loaded; nspawnctl needs ca_key to sign")
	}
	v := req.version()
	issuer := ca.ForVersion(v)
	if issuer == nil {
		return nil, fmt.Errorf("the CA %q has no version %d certificate, so it cannot sign a version %d certificate for %s; make a CA with both (nspawnctl nebula ca init --version 1,2) or set cert_version to %d", ca.Cert.Name(), v, v, req.Name, ca.Cert.Version())
	}
	switch {
	case v == cert.Version1 && !req.Address.Addr().Is4():
		return nil, fmt.Errorf("overlay address %s: version 1 certificates hold one IPv4 address; set cert_version = 2 for IPv6 (nebula 1.10 or later)", req.Address)
	case v == cert.Version1 && req.Address6.IsValid():
		return nil, fmt.Errorf("overlay address %s: version 1 certificates hold one IPv4 address only; set cert_version = 2 (nebula 1.10 or later) to add an IPv6 address", req.Address6)
	case req.Address6.IsValid() && !req.Address6.Addr().Is6():
		return nil, fmt.Errorf("address6 %s is not an IPv6 prefix", req.Address6)
	}
	now = now.Truncate(time.Second)
	notAfter := req.notAfter(ca)
	if !now.Before(ca.Cert.NotAfter()) {
		return nil, fmt.Errorf("the CA %q expired at %s; make a new one (nspawnctl nebula ca init) and re-apply", ca.Cert.Name(), ca.Cert.NotAfter().UTC().Format(time.RFC3339))
	}
	nb := now
	if nb.Before(ca.Cert.NotBefore()) {
		nb = ca.Cert.NotBefore()
	}
	tbs := &cert.TBSCertificate{
		Version:   v,
		Name:      req.Name,
		Networks:  req.networks(),
		Groups:    req.Groups,
		NotBefore: nb,
		NotAfter:  notAfter,
		PublicKey: pub,
		Curve:     cert.Curve_CURVE25519,
	}
	c, err := tbs.Sign(issuer, cert.Curve_CURVE25519, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("signing the nebula certificate of %s with CA %q: %w (check the CA's networks and groups)", req.Name, ca.Cert.Name(), err)
	}
	return c.MarshalPEM()
}

// HostCert is what nspawnctl reads back from a host certificate.
type HostCert struct {
	Name string
	// Address is the certificate's first network, Networks all of them.
	Address  netip.Prefix
	Networks []netip.Prefix
	Groups   []string
	NotAfter time.Time
	Issuer   string
	Cert     cert.Certificate
}

// ParseHostCert reads a PEM host certificate.
func ParseHostCert(certPEM []byte) (*HostCert, error) {
	c, _, err := cert.UnmarshalCertificateFromPEM(certPEM)
	if err != nil {
		return nil, err
	}
	if c.IsCA() {
		return nil, errors.New("it is a CA certificate, not a host certificate")
	}
	h := &HostCert{Name: c.Name(), Networks: c.Networks(), Groups: c.Groups(), NotAfter: c.NotAfter(), Issuer: c.Issuer(), Cert: c}
	if n := c.Networks(); len(n) > 0 {
		h.Address = n[0]
	}
	return h, nil
}

// Verify checks that the certificate is signed by ca and valid at now.
func (h *HostCert) Verify(ca *CA, now time.Time) error {
	pool := cert.NewCAPool()
	for _, c := range []cert.Certificate{ca.V1, ca.V2} {
		if c == nil {
			continue
		}
		if err := pool.AddCA(c); err != nil {
			return err
		}
	}
	_, err := pool.VerifyCertificate(now, h.Cert)
	return err
}

// Fingerprint is the certificate's SHA-256 fingerprint, the form
// pki.blocklist takes.
func (h *HostCert) Fingerprint() (string, error) { return h.Cert.Fingerprint() }

// matches reports whether h is the certificate req would produce, so an
// apply that changes nothing keeps the certificate (and the key) it has.
// A certificate with a lifetime (req.NotAfter set from duration) is kept
// until it enters its renewal window, not re-issued at every apply.
func (h *HostCert) matches(req HostRequest, pub []byte, ca *CA, now time.Time, renewBefore time.Duration) bool {
	if h.Name != req.Name || h.Cert.Version() != req.version() || !slices.Equal(h.Networks, req.networks()) ||
		!slices.Equal(h.Groups, req.Groups) || !bytes.Equal(h.Cert.PublicKey(), pub) {
		return false
	}
	if !req.NotAfter.IsZero() && h.NotAfter.After(req.notAfter(ca)) {
		return false // the duration was shortened
	}
	// Renew close to expiry, but only when a new certificate would live
	// longer: one that ends with its CA is re-issued only with a new CA.
	if NeedsRenewal(h.NotAfter, now, renewBefore) && req.notAfter(ca).After(h.NotAfter) {
		return false
	}
	return h.Verify(ca, now) == nil
}

// NeedsRenewal reports whether a certificate that expires at notAfter is
// within renewBefore of its end at now.
func NeedsRenewal(notAfter, now time.Time, renewBefore time.Duration) bool {
	return notAfter.Sub(now) < renewBefore
}

// Allocate picks machine's overlay address in pool, deterministically: the
// probe starts at a hash of the name, so the same machine gets the same
// address on every host and after a re-create, unless it is taken. The
// network and broadcast addresses and those in taken are skipped.
func Allocate(pool netip.Prefix, machine string, taken []netip.Addr) (netip.Prefix, error) {
	pool = pool.Masked()
	if !pool.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("nebula pool %s is not IPv4; pools allocate the first (IPv4) address; give an IPv6 address with address6 (cert_version = 2)", pool)
	}
	hostBits := 32 - pool.Bits()
	if hostBits < 2 {
		return netip.Prefix{}, fmt.Errorf("nebula pool %s has no room for hosts; use a larger prefix such as /24", pool)
	}
	size := uint64(1) << hostBits
	usable := size - 2
	base := binary.BigEndian.Uint32(pool.Addr().AsSlice())
	isTaken := map[netip.Addr]bool{}
	for _, a := range taken {
		isTaken[a.Unmap()] = true
	}
	h := fnv.New64a()
	h.Write([]byte(machine))
	start := h.Sum64() % usable
	for i := uint64(0); i < usable; i++ {
		off := 1 + (start+i)%usable
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+uint32(off))
		a := netip.AddrFrom4(b)
		if !isTaken[a] {
			return netip.PrefixFrom(a, pool.Bits()), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("nebula pool %s is full (%d addresses in use); use a larger pool or remove machines", pool, len(isTaken))
}

// ConfigAddresses returns the overlay addresses a sidecar's settings refer
// to besides its own (lighthouses, static_host_map keys), which an
// allocation must avoid, and the address it sets, if any.
func ConfigAddresses(cfg *Settings) []netip.Addr {
	out := slices.Clone(cfg.Lighthouses)
	for k := range cfg.StaticHostMap {
		out = append(out, k)
	}
	if cfg.Address.IsValid() {
		out = append(out, cfg.Address.Addr())
	}
	return out
}
