package nebula

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// MachineStatus is what `nspawnctl nebula status` shows of one machine's
// sidecar: its certificate, its unit, its tun device and its peers.
type MachineStatus struct {
	Machine   string    `json:"machine"`
	Sidecar   string    `json:"sidecar"`
	Address   string    `json:"address,omitempty"`
	Groups    []string  `json:"groups,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	Device    string    `json:"device,omitempty"`
	LinkState string    `json:"link_state,omitempty"`
	LinkAddrs []string  `json:"link_addresses,omitempty"`
	// Peers are the sidecar's tunnels, from nebula's console; PeersNote
	// says why there are none to show when the console did not answer.
	Peers     []Peer `json:"peers"`
	PeersNote string `json:"peers_note,omitempty"`
}

// ReadStatus gathers machine's MachineStatus from its files under paths,
// from sidecarState (the sidecar unit's ActiveState, asked of systemd; nil
// or an error leaves "unknown"), and from the sidecar's namespace and
// console. Only a missing or unreadable certificate is an error: the rest
// is shown as far as it can be read.
func ReadStatus(ctx context.Context, machine string, paths Paths, sidecarState func(ctx context.Context, unit string) (string, error)) (MachineStatus, error) {
	st := MachineStatus{Machine: machine, Sidecar: "unknown", Peers: []Peer{}}
	crt, err := os.ReadFile(paths.Cert(machine))
	if errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("machine %s has no nebula sidecar (%s is missing); give it a nebula block and apply", machine, paths.Cert(machine))
	}
	if err != nil {
		return st, fmt.Errorf("reading the nebula certificate of machine %s: %w", machine, err)
	}
	hc, err := ParseHostCert(crt)
	if err != nil {
		return st, fmt.Errorf("the nebula certificate %s of machine %s: %w; re-apply to re-sign it", paths.Cert(machine), machine, err)
	}
	st.Address, st.Groups, st.Issuer, st.Expires = hc.Address.String(), hc.Groups, hc.Issuer, hc.NotAfter
	if caPEM, err := os.ReadFile(paths.CA(machine)); err == nil {
		if ca, err := ParseCA(caPEM, nil, "ca.crt", ""); err == nil {
			if fp, err := ca.Cert.Fingerprint(); err == nil && fp == hc.Issuer {
				st.Issuer = fmt.Sprintf("CA %q (%.16s)", ca.Cert.Name(), fp)
			}
		}
	}
	if conf, err := os.ReadFile(paths.Config(machine)); err == nil {
		st.Device = DeviceFromConfig(conf)
	}
	if sidecarState != nil {
		if s, err := sidecarState(ctx, SidecarInstance(machine)); err == nil {
			st.Sidecar = s
		}
	}
	if st.Device != "" {
		st.LinkState, st.LinkAddrs = LinkIn(paths.Netns(machine), st.Device)
	}
	if peers, err := QueryMachinePeers(ctx, paths.Dir(machine), paths.Netns(machine)); err != nil {
		st.PeersNote = PeersNote(machine, err)
	} else {
		st.Peers = peers
	}
	return st, nil
}

// WriteCA creates a CA (NewCA) as dir/ca.crt (0644) and dir/ca.key (0600)
// and returns their paths. Existing files are never overwritten: both are
// created exclusively, so a racing second run cannot replace a key the
// first one handed out, and a failure leaves neither behind.
func WriteCA(dir string, crt, key []byte) (crtPath, keyPath string, err error) {
	crtPath, keyPath = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	for _, p := range []string{crtPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%s exists already; nspawnctl does not overwrite a CA (move it away, or choose another --out)", p)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := writeNew(keyPath, key, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(crtPath, crt, 0o644); err != nil {
		os.Remove(keyPath)
		return "", "", err
	}
	return crtPath, keyPath, nil
}

// writeNew creates path exclusively with data.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
