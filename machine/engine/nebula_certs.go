package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nspawnctl/nspawnctl/internal/atomicfile"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

// Removing a machine with a Nebula sidecar blocks its certificate on this
// host (machine/nebula/blocklist.go says why), and renew re-signs a
// certificate in place; these are the hooks of Remove, of nebulaArtifacts
// and of `nspawnctl nebula renew`. The logic is in machine/nebula.

func (m *Manager) nebulaBlocklistPath() string {
	return filepath.Join(m.Store.Dir, nebula.BlocklistFile)
}

// nebulaBlocked are the fingerprints the sidecars of network get.
func (m *Manager) nebulaBlocked(network string) ([]string, error) {
	bl, err := nebula.LoadBlocklist(m.nebulaBlocklistPath())
	if err != nil {
		return nil, err
	}
	return bl.Fingerprints(network, m.now()), nil
}

// blockNebulaCert records the certificate of name's sidecar in the
// blocklist and gives the new list to every other sidecar of its network
// on this host, restarting those that run so that they load it. A machine
// whose sidecar files are gone already (a remove that was interrupted
// after deleting them) has nothing left to block.
func (m *Manager) blockNebulaCert(ctx context.Context, name string) error {
	read := func(p string) ([]byte, error) { return os.ReadFile(m.host(p)) }
	rev, err := nebula.Revoke(read, name, m.now())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	bl, err := nebula.LoadBlocklist(m.nebulaBlocklistPath())
	if err != nil {
		return err
	}
	if bl.Add(rev.Network, rev.Blocked) {
		b, err := bl.Marshal()
		if err != nil {
			return err
		}
		if _, err := atomicfile.Write(m.nebulaBlocklistPath(), b, 0o600); err != nil {
			return err
		}
		m.logf("blocked the nebula certificate %s of %s in network %s on this host", rev.Blocked.Fingerprint, name, rev.Network)
	}
	fps := bl.Fingerprints(rev.Network, m.now())
	others, err := m.NebulaMachines()
	if err != nil {
		return err
	}
	for _, other := range others {
		if other == name {
			continue
		}
		if meta, err := nebula.ReadMeta(read, other); err != nil || meta.Network != rev.Network {
			continue
		}
		if err := m.setNebulaBlocklist(ctx, other, fps); err != nil {
			return err
		}
	}
	return nil
}

// setNebulaBlocklist writes fps into machine's sidecar config and restarts
// a running sidecar: its config is a credential, which systemd copies only
// at start, so a SIGHUP would reload the old copy.
func (m *Manager) setNebulaBlocklist(ctx context.Context, machine string, fps []string) error {
	conf, err := os.ReadFile(m.host(nebula.ConfigPath(machine)))
	if err != nil {
		return err
	}
	next, err := nebula.SetBlocklist(conf, fps)
	if err != nil {
		return err
	}
	if changed, err := atomicfile.Write(m.host(nebula.ConfigPath(machine)), next, nebula.FileMode); err != nil || !changed {
		return err
	}
	return m.restartSidecar(ctx, machine, "the new blocklist")
}

// restartSidecar restarts machine's sidecar when it runs, so that it loads
// a changed config.yml: the config is a credential, which systemd copies
// only at start, so nebula's own reload (SIGHUP) would re-read the old copy.
func (m *Manager) restartSidecar(ctx context.Context, machine, what string) error {
	unit := nebula.SidecarInstance(machine)
	if state, err := m.Units.ActiveState(ctx, unit); err != nil || state != "active" {
		return nil
	}
	m.logf("restarting %s to load %s", unit, what)
	if err := m.Units.Stop(ctx, unit); err != nil {
		return err
	}
	return m.Units.Start(ctx, unit)
}

// RenewNebula re-signs the certificate of machine's sidecar when it is in
// its renewal window (always with force), writes it and the config, and
// restarts a running sidecar. It returns nil when nothing was due.
func (m *Manager) RenewNebula(ctx context.Context, machine string, force bool) (*nebula.Renewal, error) {
	read := func(p string) ([]byte, error) { return os.ReadFile(m.host(p)) }
	r, err := nebula.Renew(read, machine, m.now(), force)
	if err != nil || r == nil {
		return nil, err
	}
	// The certificate first: a renewal killed in between leaves a config
	// with the old certificate, which the next renew or apply replaces.
	if _, err := atomicfile.Write(m.host(nebula.CertPath(machine)), r.Cert, nebula.FileMode); err != nil {
		return nil, err
	}
	if _, err := atomicfile.Write(m.host(nebula.ConfigPath(machine)), r.Config, nebula.FileMode); err != nil {
		return nil, err
	}
	return r, m.restartSidecar(ctx, machine, "its renewed certificate")
}

// NebulaMachines are the machines on this host with a sidecar directory.
func (m *Manager) NebulaMachines() ([]string, error) {
	dirs, err := os.ReadDir(m.host(nebula.ConfigRoot))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range dirs {
		if d.IsDir() {
			out = append(out, d.Name())
		}
	}
	return out, nil
}
