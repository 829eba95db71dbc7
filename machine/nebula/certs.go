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

// Certificates are version 1 throughout: Debian bookworm's nebula 1.6.1
// rejects version 2 ("bytes did not contain a proper nebula certificate
// banner"), and v1 limits a host to one IPv4 overlay address, which is what
// nspawnctl allocates.

// CA is a nebula certificate authority: its certificate, and its ed25519
// signing key when nspawnctl signs with it.
type CA struct {
	Cert cert.Certificate
	// PEM is the CA certificate as read, so the sidecar trusts exactly that.
	PEM []byte
	Key ed25519.PrivateKey
}

// NewCA creates a self-signed v1 CA called name, valid for duration from
// now, optionally limited to networks and groups (nebula then refuses host
// certificates outside them). It returns the certificate and key as PEM.
func NewCA(name string, duration time.Duration, networks []netip.Prefix, groups []string, now time.Time, rand io.Reader) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("a nebula CA needs a name (--name)")
	}
	if duration <= 0 {
		return nil, nil, fmt.Errorf("the CA's duration must be positive, got %s", duration)
	}
	for _, n := range networks {
		if !n.Addr().Is4() {
			return nil, nil, fmt.Errorf("CA network %s: version 1 certificates (what nebula 1.6 reads) hold IPv4 networks only", n)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the CA key: %w", err)
	}
	// v1 certificates carry whole seconds; truncating keeps NotBefore from
	// lying after what nebula-cert print shows.
	now = now.Truncate(time.Second)
	tbs := &cert.TBSCertificate{
		Version:   cert.Version1,
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
		return nil, nil, fmt.Errorf("signing the CA %s: %w", name, err)
	}
	certPEM, err = c.MarshalPEM()
	if err != nil {
		return nil, nil, err
	}
	return certPEM, cert.MarshalSigningPrivateKeyToPEM(cert.Curve_CURVE25519, priv), nil
}

// ParseCA reads a CA certificate and, when keyPEM is not nil, its signing
// key, checking that they belong together. certName and keyName name the
// files in errors.
func ParseCA(certPEM, keyPEM []byte, certName, keyName string) (*CA, error) {
	c, _, err := cert.UnmarshalCertificateFromPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w; give a nebula CA certificate (nspawnctl nebula ca init makes one)", certName, err)
	}
	if !c.IsCA() {
		return nil, fmt.Errorf("%s is a host certificate, not a CA; point ca at the CA's certificate", certName)
	}
	if c.Version() != cert.Version1 {
		return nil, fmt.Errorf("CA certificate %s is version %d; nebula 1.6 reads only version 1 (nebula-cert ca -version 1, or nspawnctl nebula ca init)", certName, c.Version())
	}
	ca := &CA{Cert: c, PEM: certPEM}
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
	Name    string
	Address netip.Prefix
	Groups  []string
	// NotAfter is when the certificate expires; zero means one second
	// before the CA does, as nebula-cert sign does.
	NotAfter time.Time
}

func (req HostRequest) notAfter(ca *CA) time.Time {
	if req.NotAfter.IsZero() {
		return ca.Cert.NotAfter().Add(-time.Second)
	}
	return req.NotAfter.Truncate(time.Second)
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

// Sign issues a v1 host certificate for pub (X25519) under ca.
func (ca *CA) Sign(req HostRequest, pub []byte, now time.Time) ([]byte, error) {
	if ca.Key == nil {
		return nil, errors.New("the CA's key is not loaded; nspawnctl needs ca_key to sign")
	}
	if !req.Address.Addr().Is4() {
		return nil, fmt.Errorf("overlay address %s: version 1 certificates hold one IPv4 address", req.Address)
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
		Version:   cert.Version1,
		Name:      req.Name,
		Networks:  []netip.Prefix{req.Address},
		Groups:    req.Groups,
		NotBefore: nb,
		NotAfter:  notAfter,
		PublicKey: pub,
		Curve:     cert.Curve_CURVE25519,
	}
	c, err := tbs.Sign(ca.Cert, cert.Curve_CURVE25519, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("signing the nebula certificate of %s with CA %q: %w (check the CA's networks and groups)", req.Name, ca.Cert.Name(), err)
	}
	return c.MarshalPEM()
}

// HostCert is what nspawnctl reads back from a host certificate.
type HostCert struct {
	Name     string
	Address  netip.Prefix
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
	h := &HostCert{Name: c.Name(), Groups: c.Groups(), NotAfter: c.NotAfter(), Issuer: c.Issuer(), Cert: c}
	if n := c.Networks(); len(n) > 0 {
		h.Address = n[0]
	}
	return h, nil
}

// Verify checks that the certificate is signed by ca and valid at now.
func (h *HostCert) Verify(ca *CA, now time.Time) error {
	pool := cert.NewCAPool()
	if err := pool.AddCA(ca.Cert); err != nil {
		return err
	}
	_, err := pool.VerifyCertificate(now, h.Cert)
	return err
}

// matches reports whether h is the certificate req would produce, so an
// apply that changes nothing keeps the certificate (and the key) it has.
func (h *HostCert) matches(req HostRequest, pub []byte, ca *CA, now time.Time, renewBefore time.Duration) bool {
	if h.Name != req.Name || h.Address != req.Address || !slices.Equal(h.Groups, req.Groups) || !bytes.Equal(h.Cert.PublicKey(), pub) {
		return false
	}
	if !req.NotAfter.IsZero() && !h.NotAfter.Equal(req.NotAfter.Truncate(time.Second)) {
		return false
	}
	// Renew close to expiry, but only when a new certificate would live
	// longer: one that ends with its CA is re-issued only with a new CA.
	if h.NotAfter.Sub(now) < renewBefore && req.notAfter(ca).After(h.NotAfter) {
		return false
	}
	return h.Verify(ca, now) == nil
}

// Allocate picks machine's overlay address in pool, deterministically: the
// probe starts at a hash of the name, so the same machine gets the same
// address on every host and after a re-create, unless it is taken. The
// network and broadcast addresses and those in taken are skipped.
func Allocate(pool netip.Prefix, machine string, taken []netip.Addr) (netip.Prefix, error) {
	pool = pool.Masked()
	if !pool.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("nebula pool %s is not IPv4; nebula 1.6 overlays are IPv4 only", pool)
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

// ConfigAddresses returns the overlay addresses a block refers to besides its
// own (lighthouses, static_host_map keys), which an allocation must avoid.
func ConfigAddresses(cfg *Config) []netip.Addr {
	var out []netip.Addr
	for _, l := range cfg.Lighthouses {
		if a, err := netip.ParseAddr(l); err == nil {
			out = append(out, a)
		}
	}
	for k := range cfg.StaticHostMap {
		if a, err := netip.ParseAddr(k); err == nil {
			out = append(out, a)
		}
	}
	if cfg.Address != "" {
		if p, err := netip.ParsePrefix(cfg.Address); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out
}
