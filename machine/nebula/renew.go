package nebula

import (
	"errors"
	"fmt"
	"time"
)

// ErrGivenCert is the error of Renew for a machine whose certificate the
// block gives (cert, key): nspawnctl did not sign it and cannot renew it.
var ErrGivenCert = errors.New("the certificate is given in the nebula block (cert, key)")

// Renewal is a renewed certificate and the config that carries it.
type Renewal struct {
	Cert, Config []byte
	OldNotAfter  time.Time
	NotAfter     time.Time
}

// Renew re-signs machine's certificate with the CA key named in its
// MetaPath when it is within its renewal window at now (or when force is
// set). The new certificate has the same name, version, networks, groups
// and key, and so the sidecar keeps its overlay address. It returns nil
// when nothing is due. Renew only reads; the caller writes Cert to CertPath
// and Config to ConfigPath and restarts the sidecar.
func Renew(read func(string) ([]byte, error), machine string, now time.Time, force bool) (*Renewal, error) {
	meta, err := ReadMeta(read, machine)
	if err != nil {
		return nil, err
	}
	if meta.CAKey == "" {
		return nil, fmt.Errorf("machine %s: %w: nspawnctl has no CA key to renew it; sign a new one (nebula-cert sign) where the CA key is, replace the file, and re-apply", machine, ErrGivenCert)
	}
	duration, renewBefore, err := ParseLifetime(meta.Duration, meta.RenewBefore)
	if err != nil {
		return nil, fmt.Errorf("machine %s: %s: %w; re-apply machine %s to rewrite it", machine, MetaPath(machine), err, machine)
	}
	hc, err := readHostCert(read, machine)
	if err != nil {
		return nil, err
	}
	if !force && !NeedsRenewal(hc.NotAfter, now, renewBefore) {
		return nil, nil
	}
	caPEM, err := read(CAPath(machine))
	if err != nil {
		return nil, fmt.Errorf("machine %s: reading its nebula CA certificate: %w", machine, err)
	}
	caKey, err := read(meta.CAKey)
	if err != nil {
		return nil, fmt.Errorf("machine %s: reading the nebula CA key %s: %w; renewal signs on this host, so the CA key must be here (or sign elsewhere: nebula-cert sign with the same key, name, networks and groups, then copy the certificate to %s and re-apply with cert and key)", machine, meta.CAKey, err, CertPath(machine))
	}
	ca, err := ParseCA(caPEM, caKey, CAPath(machine), meta.CAKey)
	if err != nil {
		return nil, fmt.Errorf("machine %s: %w", machine, err)
	}
	req := HostRequest{Name: hc.Name, Version: hc.Cert.Version(), Address: hc.Address, Groups: hc.Groups}
	if len(hc.Networks) > 1 {
		req.Address6 = hc.Networks[1]
	}
	if duration > 0 {
		req.NotAfter = now.Add(duration)
	}
	if !force && !req.notAfter(ca).After(hc.NotAfter) {
		return nil, fmt.Errorf("machine %s: its nebula certificate ends with its CA %q at %s; renewing cannot extend it: make a new CA (nspawnctl nebula ca init), point ca and ca_key at it, and re-apply", machine, ca.Cert.Name(), hc.NotAfter.UTC().Format(time.RFC3339))
	}
	newCert, err := ca.Sign(req, hc.Cert.PublicKey(), now)
	if err != nil {
		return nil, fmt.Errorf("machine %s: %w", machine, err)
	}
	conf, err := read(ConfigPath(machine))
	if err != nil {
		return nil, fmt.Errorf("machine %s: reading its nebula config: %w", machine, err)
	}
	if conf, err = SetCert(conf, newCert); err != nil {
		return nil, fmt.Errorf("machine %s: %s: %w", machine, ConfigPath(machine), err)
	}
	nhc, err := ParseHostCert(newCert)
	if err != nil {
		return nil, err
	}
	return &Renewal{Cert: newCert, Config: conf, OldNotAfter: hc.NotAfter, NotAfter: nhc.NotAfter}, nil
}
