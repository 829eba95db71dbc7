package engine

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path"
	"strings"

	"github.com/nspawnctl/nspawnctl/machine/nebula"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

// nebulaKey is the state key of a machine's overlay address allocation.
func nebulaKey(name string) string { return "nebula/" + name }

// nebulaArtifacts computes a machine's Nebula sidecar: checks the host's
// nebula against the block, allocates the overlay address when signing
// without one (keeping the recorded one), signs or reads the certificate
// (keeping the one an earlier apply wrote while it fits), and returns the
// files (config, keys, the root's .network file) and the units. It changes
// nothing on the host; Create writes them like every other artefact, after
// makeNebulaDir.
func (m *Manager) nebulaArtifacts(ctx context.Context, r *resolve.Resolved, rm *resolve.ResolvedMachine, prev *state.Record) ([]render.Artifact, netip.Prefix, error) {
	cfg := rm.Nebula
	bin, version, err := m.nebulaBinary(ctx)
	if err != nil {
		return nil, netip.Prefix{}, err
	}
	var addr netip.Prefix
	if cfg.CAKey != "" && !cfg.Address.IsValid() {
		if addr, err = m.nebulaAddress(rm, prev); err != nil {
			return nil, netip.Prefix{}, err
		}
	}
	blocked, err := m.nebulaBlocked(cfg.Network)
	if err != nil {
		return nil, netip.Prefix{}, err
	}
	res, err := nebula.Artifacts(nebula.Request{
		Machine: rm.Name, Settings: cfg, Address: addr, Version: version, Blocklist: blocked,
		ReadFile: func(p string) ([]byte, error) { return os.ReadFile(m.host(p)) },
		Now:      m.now(),
	})
	if err != nil {
		return nil, netip.Prefix{}, err
	}
	owner := "machine/" + rm.Name
	var out []render.Artifact
	for _, f := range res.Files {
		a := render.Artifact{Path: f.Path, Content: f.Content, Mode: f.Mode, Owner: owner, InRoot: f.InRoot}
		if f.InRoot {
			a.Path = path.Join(rm.RootDir, f.Path)
		}
		out = append(out, a)
	}
	units, err := nebula.RenderUnits(nebula.UnitOptions{Binary: m.Binary, Nebula: bin})
	if err != nil {
		return nil, netip.Prefix{}, err
	}
	for name, content := range units {
		// Template units are shared by every machine with a sidecar; they go
		// with the last one (see sharedPaths).
		out = append(out, render.Artifact{Path: path.Join(r.UnitDir, name), Content: content, Mode: 0o644, Owner: owner})
	}
	// Per machine: the sidecar's own dynamic user (see DynamicUserName).
	dropIn, err := nebula.RenderSidecarDropIn(rm.Name)
	if err != nil {
		return nil, netip.Prefix{}, err
	}
	out = append(out, render.Artifact{Path: nebula.SidecarDropInPath(r.UnitDir, rm.Name), Content: dropIn, Mode: 0o644, Owner: owner})
	return out, res.Address, nil
}

// makeNebulaDir creates the directory of a machine's sidecar keys: only
// root may enter it, and atomicfile would create it 0755.
func (m *Manager) makeNebulaDir(name string) error {
	dir := m.host(nebula.Dir(name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", nebula.Dir(name), err)
	}
	return os.Chmod(dir, 0o700)
}

// nebulaAddress allocates the machine's overlay address from its pool (the
// block's, or the defaults' nebula_pool), keeping the one recorded for it
// and avoiding other machines'.
func (m *Manager) nebulaAddress(rm *resolve.ResolvedMachine, prev *state.Record) (netip.Prefix, error) {
	cfg := rm.Nebula
	pool := cfg.Pool
	if !pool.IsValid() {
		return netip.Prefix{}, fmt.Errorf("machine %s signs a Nebula certificate but has no overlay address: set nebula { address = \"10.42.0.5/24\" }, nebula { pool = ... } or defaults { nebula_pool = ... }", rm.Name)
	}
	if prev != nil {
		if p, ok := prev.Allocations[nebulaKey(rm.Name)]; ok && pool.Contains(p.Addr()) {
			return netip.PrefixFrom(p.Addr(), pool.Bits()), nil
		}
	}
	recs, err := m.Store.List()
	if err != nil {
		return netip.Prefix{}, err
	}
	taken := nebula.ConfigAddresses(cfg)
	for _, rec := range recs {
		for k, p := range rec.Allocations {
			if strings.HasPrefix(k, "nebula/") && rec.Name != rm.Name {
				taken = append(taken, p.Addr())
			}
		}
	}
	return nebula.Allocate(pool, rm.Name, taken)
}
