package engine

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/nspawnctl/nspawnctl/internal/atomicfile"
	"github.com/nspawnctl/nspawnctl/internal/crashpoint"
	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
	"github.com/nspawnctl/nspawnctl/nat"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// NATStore keeps the NAT definition of machines for nat up/down/restore.
type NATStore interface {
	Save(m nat.Machine) error
	Delete(name string) error
	// Load returns a machine's definition; an error when it has none
	// (nat.ErrNotFound) or it cannot be read.
	Load(name string) (nat.Machine, error)
}

// Manager carries out lifecycle operations on a host. Every side effect goes
// through one of its fields, so tests can point it at a temporary directory
// and fakes, and the end-to-end tests at a real systemd.
type Manager struct {
	// FSRoot is where host paths live: "/" on a host, a temporary directory in tests.
	FSRoot   string
	Store    *state.Store
	Units    host.Units
	Machines host.Machines
	Networkd host.Networkd
	NAT      NATStore
	// Traffic gives status the kernel's counters; nil leaves them out.
	Traffic TrafficSource
	// Binary is the nspawnctl the unit hooks run.
	Binary string
	// MachineID is the host's machine id.
	MachineID [16]byte
	// HostPrefixes returns the prefixes of the host's own addresses, which
	// allocations must avoid. Nil means none.
	HostPrefixes func() ([]netip.Prefix, error)
	// LinkAddrs lists a host link's IPv6 addresses, for the delegated
	// prefixes status shows. Nil: status shows none.
	LinkAddrs func(link string) ([]LinkAddr, error)
	// Run runs an external program (tar, mmdebstrap) with stdin as its input
	// (nil: none) and its output shown to the user (ExecRun in production).
	Run func(ctx context.Context, stdin io.Reader, name string, args ...string) error
	// Progress receives a tarball import's progress (bytes done of total),
	// rewritten in place; nil when the user's output is not a terminal.
	Progress io.Writer
	// Out receives progress messages for the user.
	Out io.Writer
	// Now is the clock (time.Now in production).
	Now func() time.Time
	// Nebula finds the host's nebula and its version (nebula.FindBinary and
	// DetectVersion when nil).
	Nebula func(ctx context.Context) (string, nebula.Version, error)
	// Systemd returns the host's systemd major version, which decides how
	// global forwarding is turned on (networkd.GlobalForwardingSince); nil
	// or an error renders for systemd 252.
	Systemd func(ctx context.Context) (int, error)
}

func (m *Manager) host(p string) string { return filepath.Join(m.FSRoot, p) }

func (m *Manager) logf(format string, args ...any) {
	if m.Out != nil {
		fmt.Fprintf(m.Out, format+"\n", args...)
	}
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Resolve validates cfg against the host's state: machines keep earlier
// allocations (pinned), and avoid other machines' and the host's addresses.
// The caller holds the state lock.
func (m *Manager) Resolve(cfg *config.Config) (*resolve.Resolved, hcl.Diagnostics, error) {
	recs, err := m.Store.List()
	if err != nil {
		return nil, nil, err
	}
	inConfig := map[string]bool{}
	for _, mc := range cfg.Machines {
		inConfig[mc.Name] = true
	}
	facts := resolve.HostFacts{MachineID: m.MachineID}
	facts.Pinned, facts.Taken = state.Allocations(recs, inConfig)
	if m.HostPrefixes != nil {
		hp, err := m.HostPrefixes()
		if err != nil {
			return nil, nil, fmt.Errorf("reading the host's addresses: %w", err)
		}
		// A machine's own host-side addresses are on the host while it runs;
		// they must not keep it from its own allocation.
		for _, p := range hp {
			if !pinnedContains(facts.Pinned, p) {
				facts.Taken = append(facts.Taken, p)
			}
		}
	}
	r, diags := resolve.Validate(cfg, facts)
	return r, diags, nil
}

func pinnedContains(pinned map[string]netip.Prefix, p netip.Prefix) bool {
	for _, q := range pinned {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

// CreateOptions are the options of Create.
type CreateOptions struct {
	Ownership string
	// Force replaces a machine that exists already (managed by the other path, or unmanaged).
	Force bool
	// Start says the caller starts the machine after Create, with
	// StartCreated: the record stays marked incomplete until then, so that
	// a create killed before or during the start is finished by a re-run.
	Start bool
	// ConfigFiles are recorded for status.
	ConfigFiles []string

	// planned is the desired state a plan computed, which Apply carries
	// out; nil computes it here.
	planned *desiredState
}

// Create makes machine name of a resolved configuration exist on the host:
// root file system, artefacts, NAT definition and state record. A failure
// part-way removes what this call made, so that nothing half-made is left.
//
// A kill part-way cannot undo anything, so before its first side effect
// Create records what it is about to make (the record, marked Incomplete,
// lists every file, the root if it creates one, the allocations). The next
// create of the machine takes that record as its own and finishes the job;
// remove deletes what it lists. With Start the mark stays until
// StartCreated has started the machine, so that a create killed while
// starting is finished too.
func (m *Manager) Create(ctx context.Context, r *resolve.Resolved, name string, opts CreateOptions) (err error) {
	crashpoint.Hit("create: begin")
	rm := r.Machine(name)
	if rm == nil {
		return fmt.Errorf("machine %s is not in the configuration", name)
	}
	prev, err := m.Store.Load(name)
	if err != nil {
		return err
	}
	if err := m.checkCreatable(ctx, rm, prev, opts); err != nil {
		return err
	}
	ds := opts.planned
	if ds == nil {
		if ds, err = m.desired(ctx, r, rm, prev); err != nil {
			return err
		}
	}
	arts, overlay := ds.arts, ds.overlay
	if rm.Nebula != nil {
		if err := m.makeNebulaDir(name); err != nil {
			return err
		}
	}

	undo := &undoLog{}
	defer func() {
		if err != nil && !undo.committed {
			switch uerr := undo.run(); {
			case uerr != nil:
				err = fmt.Errorf("%w; undoing the partial create also failed: %v (re-run the create to finish it)", err, uerr)
			case prev != nil && prev.Incomplete:
				err = fmt.Errorf("%w; what the interrupted create before this one made is still recorded: re-run the create to finish it, or nspawnctl remove %s to delete it", err, name)
			default:
				err = fmt.Errorf("%w; nothing of machine %s was left behind", err, name)
			}
		}
	}()

	rec := m.newRecord(r, rm, prev, opts, overlay)
	rootCreated := (prev != nil && prev.RootCreated) || m.createsRoot(rm)
	// The intent: everything this create may leave, saved before any of it
	// exists. Restoring prev (or deleting the record) is the last undo step,
	// so an undo that is itself killed still leaves the intent behind.
	intent := *rec
	intent.Incomplete, intent.RootCreated = true, rootCreated
	intent.Artifacts = prev.CopyArtifacts()
	for _, a := range arts {
		if m.recordArtifact(a, rootCreated, prev) && !intent.Has(a.Path) {
			intent.Artifacts = append(intent.Artifacts, state.ArtifactRecord{Path: a.Path, Symlink: a.Symlink, InRoot: a.InRoot})
		}
	}
	if err := m.Store.Save(&intent); err != nil {
		return err
	}
	undo.add(func() error {
		if prev != nil {
			return m.Store.Save(prev)
		}
		return m.Store.Delete(name)
	})
	crashpoint.Hit("create: intent recorded")

	if _, err := m.provisionRoot(ctx, rm, undo); err != nil {
		return err
	}
	crashpoint.Hit("create: root in place")
	var written []state.ArtifactRecord
	for _, a := range arts {
		if err := atomicfile.RemoveLeftovers(m.host(a.Path)); err != nil {
			return err
		}
		if _, err := m.writeArtifact(a, undo); err != nil {
			return err
		}
		if intent.Has(a.Path) {
			written = append(written, state.ArtifactRecord{Path: a.Path, Symlink: a.Symlink, InRoot: a.InRoot})
		}
	}
	if prev != nil {
		// Files the previous generation (or the interrupted create) had
		// and this one has not.
		if err := m.removeStale(&intent, written, undo); err != nil {
			return err
		}
	}
	if err := m.switchOnForwarding(arts); err != nil {
		return err
	}
	crashpoint.Hit("create: files written")
	nm := render.NATMachine(r, rm)
	if err := m.removeNATLeftovers(name); err != nil {
		return err
	}
	if render.NeedsNAT(nm) {
		if err := m.saveNAT(nm, undo); err != nil {
			return err
		}
	}
	// A definition the machine no longer needs is deleted last, below: the
	// deletion cannot be undone (it takes the running marker with it).
	crashpoint.Hit("create: NAT definition saved")
	rec.Artifacts, rec.RootCreated, rec.Incomplete = written, rootCreated, opts.Start
	if rec.Generation, err = m.Store.NextGeneration(name); err != nil {
		return err
	}
	if err := m.Store.Save(rec); err != nil {
		return err
	}
	crashpoint.Hit("create: record saved")
	gen := &state.Generation{Number: rec.Generation, Time: m.now(), ConfigFiles: opts.ConfigFiles, Artifacts: arts, NAT: nm, Record: *rec}
	if err := m.Store.SaveGeneration(name, gen); err != nil {
		return err
	}
	undo.add(func() error { return m.Store.DeleteGeneration(name, gen.Number) })
	crashpoint.Hit("create: generation saved")
	if err := m.Units.Reload(ctx); err != nil {
		return err
	}
	crashpoint.Hit("create: systemd reloaded")
	if !render.NeedsNAT(nm) {
		if err := m.NAT.Delete(name); err != nil {
			return err
		}
	}
	if err := m.Networkd.Reload(ctx); err != nil {
		m.logf("warning: %v", err)
	}
	crashpoint.Hit("create: networkd reloaded")
	m.logf("created machine %s (%s network, host link %s)", name, rm.Mode, cmp.Or(rm.HostLink, "none"))
	undo.commit()
	return nil
}

// StartCreated starts a machine that Create made with Start set, and then
// marks its create finished. The caller must not hold the state lock (the
// unit's hooks take it); StartCreated takes it, waiting up to lockWait, only
// to update the record.
func (m *Manager) StartCreated(ctx context.Context, name string, lockWait time.Duration) error {
	if err := m.Start(ctx, name); err != nil {
		return fmt.Errorf("%w (machine %s is created; nspawnctl start %s retries the start)", err, name, name)
	}
	unlock, err := m.Store.Lock(lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := m.Store.Load(name)
	if err != nil || rec == nil || !rec.Incomplete {
		return err
	}
	rec.Incomplete = false
	return m.Store.Save(rec)
}

// newRecord is the state record a successful create of rm leaves, but for
// what is known only once the files are written (Artifacts, RootCreated)
// and the generation.
func (m *Manager) newRecord(r *resolve.Resolved, rm *resolve.ResolvedMachine, prev *state.Record, opts CreateOptions, overlay netip.Prefix) *state.Record {
	name := rm.Name
	rec := &state.Record{
		Name: name, Ownership: opts.Ownership, Created: m.now(), Updated: m.now(),
		ConfigFiles: opts.ConfigFiles, Allocations: map[string]netip.Prefix{},
		RootDir: rm.RootDir, Mode: string(rm.Mode), HostLink: rm.HostLink,
		Zone: rm.Zone, Bridge: rm.Bridge, Autostart: rm.Unit.Autostart, Activation: string(rm.Unit.Activation),
		DelegatedLink: render.DelegatedLink(r, rm),
	}
	if prev != nil {
		rec.Created, rec.Generation = prev.Created, prev.Generation
	}
	for fam, p := range rm.Allocated {
		rec.Allocations["machine/"+name+"/"+fam] = p
	}
	for k, p := range zoneAllocations(r, rm) {
		rec.Allocations[k] = p
	}
	rec.Sidecar = rm.Nebula != nil
	if overlay.IsValid() {
		// A /32: the overlay address alone, so that it never blocks a
		// subnet of the veth pools should they overlap.
		rec.Allocations[nebulaKey(name)] = netip.PrefixFrom(overlay.Addr(), 32)
	}
	for _, f := range rm.Forwards {
		rec.Forwards = append(rec.Forwards, f.String())
	}
	rec.Masquerade = render.MasqueradeLines(render.NATMachine(r, rm))
	rec.Exposure = render.ExposureLines(render.NATMachine(r, rm))
	return rec
}

// createsRoot reports whether this create will make rm's root: a tarball,
// bootstrap or NixOS root that is not there yet.
func (m *Manager) createsRoot(rm *resolve.ResolvedMachine) bool {
	if !rm.RootKind.Creates() {
		return false
	}
	_, err := os.Lstat(m.host(rm.RootDir))
	return errors.Is(err, fs.ErrNotExist)
}

// recordArtifact says whether a is nspawnctl's to remove later. Inside a
// root that was there before, a file that already has exactly this content
// (say, networkd enabled by the image) is not. Host files always are: a
// zone file another member wrote is shared, not foreign.
func (m *Manager) recordArtifact(a render.Artifact, rootCreated bool, prev *state.Record) bool {
	return !a.InRoot || rootCreated || prev.Has(a.Path) || !m.onDisk(a)
}

// onDisk reports whether a is on the host already, exactly (content and
// mode, or link target), so that writing it changes nothing.
func (m *Manager) onDisk(a render.Artifact) bool {
	dst := m.host(a.Path)
	if a.Symlink != "" {
		cur, err := os.Readlink(dst)
		return err == nil && cur == a.Symlink
	}
	st, err := os.Lstat(dst)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != os.FileMode(a.Mode).Perm() {
		return false
	}
	old, err := os.ReadFile(dst)
	return err == nil && bytes.Equal(old, a.Content)
}

// checkCreatable refuses to take over a machine that exists and is not ours
// (or is the other path's) unless forced.
func (m *Manager) checkCreatable(ctx context.Context, rm *resolve.ResolvedMachine, prev *state.Record, opts CreateOptions) error {
	name := rm.Name
	if prev != nil {
		if prev.Ownership != opts.Ownership && !opts.Force {
			return fmt.Errorf("machine %s exists and is managed %sly (by nspawnctl %s); use --force to take it over", name, prev.Ownership, map[string]string{state.OwnerImperative: "create", state.OwnerDeclarative: "apply"}[prev.Ownership])
		}
		if prev.Ownership == state.OwnerImperative && opts.Ownership == state.OwnerImperative && !opts.Force && !prev.Incomplete {
			return fmt.Errorf("machine %s exists already; remove it first, or use --force to re-create it from this configuration", name)
		}
		return nil
	}
	if opts.Force {
		return nil
	}
	if _, err := os.Lstat(m.host(render.NspawnPath(name))); err == nil {
		return fmt.Errorf("machine %s exists already (%s) and is not managed by nspawnctl; use --force to take it over", name, render.NspawnPath(name))
	}
	if m.Machines != nil {
		if _, err := m.Machines.Info(ctx, name); err == nil {
			return fmt.Errorf("a machine called %s is running and is not managed by nspawnctl; stop it or choose another name (or --force)", name)
		}
	}
	if rm.RootKind.Creates() {
		if _, err := os.Lstat(m.host(rm.RootDir)); err == nil {
			return fmt.Errorf("the root %s of machine %s exists already, but the configuration asks nspawnctl to create it; remove it, point root.directory at it, or use --force to keep it", rm.RootDir, name)
		}
	}
	return nil
}

// writeArtifact writes a and reports whether that changed the host.
func (m *Manager) writeArtifact(a render.Artifact, undo *undoLog) (bool, error) {
	dst := m.host(a.Path)
	old, oldErr := os.ReadFile(dst)
	oldLink, linkErr := os.Readlink(dst)
	oldMode := os.FileMode(0o644)
	if st, err := os.Lstat(dst); err == nil {
		oldMode = st.Mode().Perm()
	}
	if err := m.claimMissingDirs(a.Path); err != nil {
		return false, err
	}
	changed, err := writeArtifact(dst, a)
	if err != nil {
		// The bare rename error names neither the object nor a remedy.
		return false, fmt.Errorf("writing %s for %s: %w; remove or move away what is at that path (nspawnctl owns it) and retry", a.Path, cmp.Or(a.Owner, "the machine"), err)
	}
	if !changed {
		return false, nil
	}
	undo.add(func() error {
		switch {
		case linkErr == nil:
			_, err := atomicfile.Symlink(oldLink, dst)
			return err
		case oldErr == nil:
			// The old mode matters: a key must not come back world-readable.
			_, err := atomicfile.Write(dst, old, oldMode)
			return err
		default:
			if err := removeIfExists(dst); err != nil {
				return err
			}
			m.removeEmptyDirs(a.Path) // MkdirAll may have made it for this file
			return nil
		}
	})
	return true, nil
}

func removeIfExists(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// removeArtifact deletes one file nspawnctl wrote, and its drop-in directory
// when that becomes empty.
func (m *Manager) removeArtifact(a state.ArtifactRecord) error {
	p := m.host(a.Path)
	if err := removeIfExists(p); err != nil {
		return fmt.Errorf("removing %s: %w", a.Path, err)
	}
	m.removeEmptyDirs(a.Path)
	return nil
}

// provisionRoot makes sure the machine's root exists, creating it for
// tarball, bootstrap and NixOS roots. It reports whether it created it.
func (m *Manager) provisionRoot(ctx context.Context, rm *resolve.ResolvedMachine, undo *undoLog) (bool, error) {
	dst := m.host(rm.RootDir)
	if _, err := os.Stat(dst); err == nil {
		return false, nil
	}
	src := rm.Root
	switch rm.RootKind {
	case resolve.RootDirectory:
		return false, fmt.Errorf("the root directory %s of machine %s does not exist; create it (e.g. with mmdebstrap), or use root { tarball = ... } or root { bootstrap { ... } }", rm.RootDir, rm.Name)
	case resolve.RootImage:
		return false, fmt.Errorf("the image %s of machine %s does not exist", rm.RootDir, rm.Name)
	}
	tmp := m.host(rootTempDir(rm.RootDir))
	if err := removeRootTemp(tmp); err != nil {
		return false, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return false, fmt.Errorf("creating %s: %w", tmp, err)
	}
	defer os.RemoveAll(tmp)
	crashpoint.Hit("create: root's temporary directory made")
	switch rm.RootKind {
	case resolve.RootTarball:
		m.logf("importing %s into %s ...", src.Tarball, rm.RootDir)
		if err := m.importTarball(ctx, src.Tarball, tmp); err != nil {
			return false, fmt.Errorf("importing the tarball %s for machine %s: %w", src.Tarball, rm.Name, err)
		}
	case resolve.RootBootstrap:
		b := src.Bootstrap
		pkgs := append([]string{"systemd", "dbus", "iproute2"}, b.Packages...)
		args := []string{"--variant=" + b.Variant, "--include=" + strings.Join(pkgs, ","), b.Suite, tmp}
		if b.Mirror != "" {
			args = append(args, b.Mirror)
		}
		m.logf("bootstrapping %s (%s) for machine %s with mmdebstrap; this takes a minute ...", b.Suite, strings.Join(pkgs, " "), rm.Name)
		if err := m.Run(ctx, nil, "mmdebstrap", args...); err != nil {
			return false, fmt.Errorf("bootstrapping the root of machine %s: %w", rm.Name, err)
		}
	case resolve.RootNixOS:
		// A NixOS system brings everything from /nix/store; nspawn only needs
		// the mount points and an os-release to accept the directory.
		for _, d := range []string{"etc", "usr", "var", "nix/store", "nix/var/nix"} {
			if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
				return false, err
			}
		}
		for _, f := range []string{"etc/os-release", "etc/machine-id"} {
			if err := os.WriteFile(filepath.Join(tmp, f), nil, 0o644); err != nil {
				return false, err
			}
		}
	}
	crashpoint.Hit("create: root filled")
	if err := os.Rename(tmp, dst); err != nil {
		return false, fmt.Errorf("moving the new root into place at %s: %w", rm.RootDir, err)
	}
	undo.add(func() error { return os.RemoveAll(dst) })
	return true, nil
}

// Start starts a machine through its unit and waits for systemd's answer.
// It first checks what the machine needs, so a missing root, zone or bridge
// is named instead of surfacing as a failed unit.
func (m *Manager) Start(ctx context.Context, name string) error {
	rec, err := m.Store.Load(name)
	if err != nil {
		return err
	}
	if rec != nil {
		if err := m.checkStartable(rec); err != nil {
			return err
		}
	}
	unit := render.UnitName(name)
	if err := m.Units.ResetFailed(ctx, unit); err != nil {
		return err
	}
	crashpoint.Hit("start: asking systemd")
	if err := m.Units.Start(ctx, unit); err != nil {
		return fmt.Errorf("machine %s did not start: %w", name, err)
	}
	crashpoint.Hit("start: systemd started the unit")
	m.logf("started machine %s", name)
	if rec != nil && rec.Sidecar {
		return m.waitSidecar(ctx, name)
	}
	return nil
}

// sidecarWait bounds how long Start waits for a Nebula sidecar to come up.
const sidecarWait = 30 * time.Second

// waitSidecar waits until the machine's Nebula sidecar is active: the
// container unit only Wants= it, so systemd reports the container started
// even when the sidecar fails, and the user would not learn of it.
func (m *Manager) waitSidecar(ctx context.Context, name string) error {
	unit, netns := nebula.SidecarInstance(name), nebula.NetnsInstance(name)
	deadline := time.Now().Add(sidecarWait)
	for {
		state, err := m.Units.ActiveState(ctx, unit)
		if err == nil && state == "active" {
			return nil
		}
		// The sidecar is bound to the namespace unit: when that fails (e.g.
		// prepare refused a /dev/net/tun the sidecar's user cannot open),
		// the sidecar never starts and only the namespace unit says why.
		for _, u := range []string{netns, unit} {
			if s, err := m.Units.ActiveState(ctx, u); err == nil && s == "failed" {
				return fmt.Errorf("machine %s started, but its Nebula sidecar did not: %s failed; see journalctl -u %s", name, u, u)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("machine %s started, but its Nebula sidecar %s is still %q after %s; see journalctl -u %s -u %s", name, unit, state, sidecarWait, netns, unit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (m *Manager) checkStartable(rec *state.Record) error {
	if _, err := os.Stat(m.host(rec.RootDir)); err != nil {
		return fmt.Errorf("machine %s cannot start: its root %s is missing (%v); restore it or re-create the machine", rec.Name, rec.RootDir, err)
	}
	switch networkd.Mode(rec.Mode) {
	case networkd.ModeZone:
		p := filepath.Join(render.NetworkDir, networkd.FilePrefix+"vz-"+rec.Zone+".network")
		if _, err := os.Stat(m.host(p)); err != nil {
			return fmt.Errorf("machine %s cannot start: zone %s is not configured on this host (%s is missing); declare the zone and apply it", rec.Name, rec.Zone, p)
		}
	case networkd.ModeBridge:
		if !m.bridgeExists(rec.Bridge) {
			return fmt.Errorf("machine %s cannot start: bridge %s does not exist on this host; create it (declare a bridge %q block, or with networkd/ip link) and start again", rec.Name, rec.Bridge, rec.Bridge)
		}
	}
	return nil
}

func (m *Manager) bridgeExists(name string) bool {
	if _, err := os.Stat(filepath.Join("/sys/class/net", name, "bridge")); err == nil {
		return true
	}
	// A declared bridge whose .netdev is in place is created by networkd.
	_, err := os.Stat(m.host(filepath.Join(render.NetworkDir, networkd.FilePrefix+name+".netdev")))
	return err == nil
}

// Stop stops a machine and waits for systemd's answer.
func (m *Manager) Stop(ctx context.Context, name string) error {
	if err := m.Units.Stop(ctx, render.UnitName(name)); err != nil {
		return fmt.Errorf("machine %s did not stop: %w", name, err)
	}
	m.logf("stopped machine %s", name)
	return nil
}

// RemoveOptions are the options of Remove.
type RemoveOptions struct {
	// KeepRoot keeps a root nspawnctl created (roots it did not create are never removed).
	KeepRoot bool
}

// Remove stops a managed machine and deletes exactly what nspawnctl made for
// it: files and links, its NAT definition (and so its forwards), its
// allocations, and the root if nspawnctl created it and KeepRoot is false.
func (m *Manager) Remove(ctx context.Context, name string, opts RemoveOptions) error {
	rec, err := m.Store.Load(name)
	if err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("machine %s is not managed by nspawnctl; nothing was removed (remove unmanaged machines with machinectl remove)", name)
	}
	if state, err := m.Units.ActiveState(ctx, render.UnitName(name)); err == nil && state != "inactive" && state != "failed" {
		if err := m.Stop(ctx, name); err != nil {
			return err
		}
	}
	_ = m.Units.ResetFailed(ctx, render.UnitName(name))
	crashpoint.Hit("remove: stopped")
	if rec.Sidecar {
		if err := m.blockNebulaCert(ctx, name); err != nil {
			return fmt.Errorf("removing machine %s: blocking its nebula certificate: %w; nothing was removed yet, fix that and run remove again", name, err)
		}
	}
	// Files inside the root go first: removing the root would take them anyway.
	arts := append([]state.ArtifactRecord(nil), rec.Artifacts...)
	sort.SliceStable(arts, func(i, j int) bool { return arts[i].InRoot && !arts[j].InRoot })
	shared, err := m.sharedPaths(name)
	if err != nil {
		return err
	}
	for _, a := range arts {
		// A killed write leaves a temporary file next to its target, also
		// next to a shared file.
		if err := atomicfile.RemoveLeftovers(m.host(a.Path)); err != nil {
			return err
		}
		if shared[a.Path] {
			continue // a zone or bridge file another machine still uses
		}
		if err := m.removeArtifact(a); err != nil {
			return err
		}
		crashpoint.Hit("remove: removed " + a.Path)
	}
	if err := m.NAT.Delete(name); err != nil {
		return err
	}
	if err := m.removeNATLeftovers(name); err != nil {
		return err
	}
	crashpoint.Hit("remove: NAT definition deleted")
	// The sidecar's key directory, emptied above; absent without a sidecar.
	_ = os.Remove(m.host(nebula.Dir(name)))
	if rec.RootCreated && !opts.KeepRoot {
		m.logf("removing root %s", rec.RootDir)
		if err := os.RemoveAll(m.host(rec.RootDir)); err != nil {
			return fmt.Errorf("removing the root %s of machine %s: %w", rec.RootDir, name, err)
		}
		if err := m.forgetDirsUnder(rec.RootDir); err != nil {
			return err
		}
		crashpoint.Hit("remove: root removed")
	}
	if rec.RootCreated {
		// A create killed while it filled the root left its temporary directory.
		if err := removeRootTemp(m.host(rootTempDir(rec.RootDir))); err != nil {
			return err
		}
	}
	if err := m.Store.DeleteGenerations(name); err != nil {
		return err
	}
	if err := m.Units.Reload(ctx); err != nil {
		return err
	}
	if err := m.Networkd.Reload(ctx); err != nil {
		m.logf("warning: %v", err)
	}
	crashpoint.Hit("remove: systemd and networkd reloaded")
	// The record goes last: until then a re-run of a killed remove finds
	// the machine and finishes.
	if err := m.Store.Delete(name); err != nil {
		return err
	}
	m.logf("removed machine %s", name)
	return nil
}

// sharedPaths returns the artefact paths that machines other than name
// also recorded: zone and bridge files, which go with their last user.
func (m *Manager) sharedPaths(name string) (map[string]bool, error) {
	recs, err := m.Store.List()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range recs {
		if r.Name == name {
			continue
		}
		for _, a := range r.Artifacts {
			out[a.Path] = true
		}
	}
	return out, nil
}

// undoLog collects the inverse of each side effect of an operation, to run
// in reverse when the operation fails part-way.
type undoLog struct {
	steps     []func() error
	committed bool
}

func (u *undoLog) add(f func() error) { u.steps = append(u.steps, f) }

func (u *undoLog) commit() { u.committed = true }

func (u *undoLog) run() error {
	if u.committed {
		return nil
	}
	var errs []error
	for i := len(u.steps) - 1; i >= 0; i-- {
		if err := u.steps[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
