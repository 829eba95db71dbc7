package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/nspawnctl/nspawnctl/internal/linediff"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// Actions of a plan entry.
const (
	ActionCreate    = "create"
	ActionUpdate    = "update"
	ActionUnchanged = "unchanged"
	ActionRemove    = "remove" // undeclared and pruned
	ActionKeep      = "keep"   // undeclared, kept because --prune was not given
)

// Effects a change needs on a running machine, weakest first.
const (
	EffectNone    = "none"
	EffectReload  = "reload"
	EffectRestart = "restart"
)

// FileChange is one file a plan would add, modify or delete.
type FileChange struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // add, modify, delete
	Diff string `json:"diff,omitempty"`
	// Effect is what this change needs on a running machine.
	Effect string `json:"effect"`
}

// MachinePlan is what apply would do to one machine.
type MachinePlan struct {
	Name      string       `json:"name"`
	Action    string       `json:"action"`
	Ownership string       `json:"ownership,omitempty"`
	Files     []FileChange `json:"files,omitempty"`
	// NAT lists forwards added (+) and removed (-).
	NAT []string `json:"nat,omitempty"`
	// Effect is the strongest effect of the changes; Activation what the
	// machine's strategy makes of it (restart, reload, none).
	Effect     string `json:"effect"`
	Activation string `json:"activation"`
	// Reason explains a refusal (e.g. the machine is imperative) or a choice.
	Reason string `json:"reason,omitempty"`

	resolved *resolve.ResolvedMachine
	// desired is what Apply writes: exactly the state this plan compared.
	desired *desiredState
}

// Plan compares a resolved declared configuration with the host. It is a
// read-only operation, and needs no connection to systemd: it reads the
// state directory and the files alone. Whether a machine runs is not part
// of it; Activation says what Apply does to a machine that runs.
func (m *Manager) Plan(ctx context.Context, r *resolve.Resolved, prune, force bool) ([]*MachinePlan, error) {
	recs, err := m.Store.List()
	if err != nil {
		return nil, err
	}
	byName := map[string]*state.Record{}
	for _, rec := range recs {
		byName[rec.Name] = rec
	}
	var plans []*MachinePlan
	for _, rm := range r.Machines {
		p, err := m.planMachine(ctx, r, rm, byName[rm.Name], force)
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	for _, rec := range recs {
		if r.Machine(rec.Name) != nil || rec.Ownership != state.OwnerDeclarative {
			continue
		}
		p := &MachinePlan{Name: rec.Name, Action: ActionKeep, Ownership: rec.Ownership, Effect: EffectNone, Activation: EffectNone,
			Reason: "no longer declared; apply --prune removes it"}
		if prune {
			p.Action, p.Effect, p.Activation, p.Reason = ActionRemove, EffectRestart, "stop", "no longer declared"
			// Remove keeps files other machines recorded too (the NAT
			// restore unit, zone and bridge files); the plan must not
			// promise to delete them.
			shared, err := m.sharedPaths(rec.Name)
			if err != nil {
				return nil, err
			}
			for _, a := range rec.Artifacts {
				if !shared[a.Path] {
					p.Files = append(p.Files, FileChange{Path: a.Path, Kind: "delete", Effect: EffectRestart})
				}
			}
			for _, f := range natLines(rec) {
				p.NAT = append(p.NAT, "- "+f)
			}
		}
		plans = append(plans, p)
	}
	return plans, nil
}

func (m *Manager) planMachine(ctx context.Context, r *resolve.Resolved, rm *resolve.ResolvedMachine, rec *state.Record, force bool) (*MachinePlan, error) {
	p := &MachinePlan{Name: rm.Name, resolved: rm, Ownership: state.OwnerDeclarative}
	takeover := false
	nm := render.NATMachine(r, rm)
	switch {
	case rec == nil:
		p.Action = ActionCreate
	case rec.Ownership != state.OwnerDeclarative && !force:
		p.Action, p.Ownership = ActionKeep, rec.Ownership
		p.Reason = fmt.Sprintf("machine %s is managed %sly (nspawnctl create); apply leaves it alone unless --force", rm.Name, rec.Ownership)
		p.Effect, p.Activation = EffectNone, EffectNone
		return p, nil
	default:
		p.Action = ActionUpdate
		if rec.Ownership != state.OwnerDeclarative {
			takeover = true
			p.Reason = fmt.Sprintf("taken over from nspawnctl create (--force); from now on apply manages %s", rm.Name)
		}
	}
	ds, err := m.desired(ctx, r, rm, rec)
	if err != nil {
		return nil, err
	}
	p.desired = ds
	want := map[string]render.Artifact{}
	for _, a := range ds.arts {
		want[a.Path] = a
		fc, changed := m.fileChange(a)
		if changed {
			fc.Effect = effectOf(a, fc)
			if a.Mode != 0 && a.Mode&0o077 == 0 {
				// Keys (and Nebula's config, which holds one): a plan is
				// for reviewers and CI logs, not for secrets.
				fc.Diff = "(only root may read this file; its content is not shown)"
			}
			p.Files = append(p.Files, fc)
		}
	}
	if rec != nil {
		for _, a := range rec.Artifacts {
			if _, ok := want[a.Path]; !ok {
				p.Files = append(p.Files, FileChange{Path: a.Path, Kind: "delete", Effect: effectOfPath(a.Path)})
			}
		}
	}
	sort.Slice(p.Files, func(i, j int) bool { return p.Files[i].Path < p.Files[j].Path })
	var had []string
	if rec != nil {
		had = natLines(rec)
	}
	var now []string
	for _, f := range rm.Forwards {
		now = append(now, f.String())
	}
	now = append(now, render.MasqueradeLines(nm)...)
	now = append(now, render.ExposureLines(nm)...)
	for _, f := range now {
		if !slices.Contains(had, f) {
			p.NAT = append(p.NAT, "+ "+f)
		}
	}
	for _, f := range had {
		if !slices.Contains(now, f) {
			p.NAT = append(p.NAT, "- "+f)
		}
	}
	p.Effect = EffectNone
	for _, f := range p.Files {
		p.Effect = strongest(p.Effect, f.Effect)
	}
	if len(p.NAT) > 0 {
		p.Effect = strongest(p.Effect, EffectReload)
	}
	if p.Action == ActionUpdate && p.Effect == EffectNone && !takeover {
		p.Action = ActionUnchanged
	}
	p.Activation = activation(rm.Unit.Activation.InEffect(), p.Effect)
	return p, nil
}

// machineArtifacts is what render.MachineArtifacts makes of rm with the
// host's facts: the .network files of proxy_ndp uplinks (asked of networkd)
// and the systemd version.
func (m *Manager) machineArtifacts(ctx context.Context, r *resolve.Resolved, rm *resolve.ResolvedMachine) ([]render.Artifact, error) {
	opts := render.RenderOptions{Binary: m.Binary, MachineID: m.MachineID, StaticLeases: true}
	if ups := render.ProxyNDPUplinks(rm); len(ups) > 0 {
		files, err := m.uplinkNetworkFiles(ups)
		if err != nil {
			return nil, fmt.Errorf("machine %s: %w", rm.Name, err)
		}
		opts.UplinkNetworkFiles = files
	}
	if len(render.ForwardingFamilies(r, rm)) > 0 {
		// Asked only when it matters, so that plan runs systemctl only
		// for machines whose forwarding depends on the version.
		opts.SystemdVersion = m.systemdVersion(ctx)
	}
	return render.MachineArtifacts(r, rm, opts)
}

func (m *Manager) fileChange(a render.Artifact) (FileChange, bool) {
	dst := m.host(a.Path)
	if a.Symlink != "" {
		cur, err := os.Readlink(dst)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return FileChange{Path: a.Path, Kind: "add", Diff: "+ -> " + a.Symlink}, true
		case err != nil || cur != a.Symlink:
			return FileChange{Path: a.Path, Kind: "modify", Diff: "- -> " + cur + "\n+ -> " + a.Symlink}, true
		}
		return FileChange{}, false
	}
	cur, err := os.ReadFile(dst)
	if err != nil {
		return FileChange{Path: a.Path, Kind: "add", Diff: linediff.Diff("", string(a.Content))}, true
	}
	if bytes.Equal(cur, a.Content) {
		return FileChange{}, false
	}
	return FileChange{Path: a.Path, Kind: "modify", Diff: linediff.Diff(string(cur), string(a.Content))}, true
}

// effectOf classifies a file change by what it needs on a running machine:
// the .nspawn file, mounts and the container's own network need a restart;
// host-side networkd files need only a networkd reload; the unit drop-in
// needs a restart unless only its NAT hooks changed, which NAT itself
// applies at once.
func effectOf(a render.Artifact, fc FileChange) string {
	if strings.HasSuffix(a.Path, "/nspawnctl.conf") && fc.Kind == "modify" {
		for _, line := range strings.Split(fc.Diff, "\n") {
			if (strings.HasPrefix(line, "+ ") || strings.HasPrefix(line, "- ")) && !strings.Contains(line, " nat up ") && !strings.Contains(line, " nat down ") {
				return EffectRestart
			}
		}
		return EffectReload
	}
	return effectOfPath(a.Path)
}

func effectOfPath(p string) string {
	switch {
	case strings.HasPrefix(p, render.NetworkDir+"/"):
		return EffectReload
	case strings.Contains(p, "machines.target.wants"), strings.HasPrefix(p, networkd.ConfDropInDir+"/"):
		// Global forwarding is switched on by the write itself (switchOnForwarding).
		return EffectNone
	}
	return EffectRestart
}

func strongest(a, b string) string {
	rank := map[string]int{EffectNone: 0, EffectReload: 1, EffectRestart: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// activation maps a needed effect through a machine's strategy.
func activation(strategy resolve.Activation, effect string) string {
	switch strategy {
	case resolve.ActivateNone:
		return EffectNone
	case resolve.ActivateReload:
		if effect == EffectRestart {
			return EffectReload
		}
		return effect
	case resolve.ActivateRestart:
		if effect != EffectNone {
			return EffectRestart
		}
	}
	return effect
}

// ApplyOptions are the options of Apply. Pruning and taking over are
// decided by the plan (Plan's prune and force), which Apply carries out.
type ApplyOptions struct {
	ConfigFiles []string
	// RefreshNAT re-applies a running machine's forwards after its NAT
	// definition changed (the unit's hooks only run at start and stop).
	RefreshNAT func(name string) error
}

// Apply carries out plans: writes exactly the artefacts each plan compared
// (not a new computation of them), restarts or reloads running machines as
// their activation says, and removes pruned ones. Unchanged and kept
// machines are not touched, running or not.
func (m *Manager) Apply(ctx context.Context, r *resolve.Resolved, plans []*MachinePlan, opts ApplyOptions) error {
	var errs []error
	for _, p := range plans {
		if err := m.applyOne(ctx, r, p, opts); err != nil {
			errs = append(errs, fmt.Errorf("machine %s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) applyOne(ctx context.Context, r *resolve.Resolved, p *MachinePlan, opts ApplyOptions) error {
	switch p.Action {
	case ActionKeep, ActionUnchanged:
		return nil
	case ActionRemove:
		return m.Remove(ctx, p.Name, RemoveOptions{})
	}
	running := false
	if state, err := m.Units.ActiveState(ctx, render.UnitName(p.Name)); err == nil {
		running = state == "active" || state == "activating" || state == "reloading"
	}
	if err := m.Create(ctx, r, p.Name, CreateOptions{Ownership: state.OwnerDeclarative, Force: true, ConfigFiles: opts.ConfigFiles, planned: p.desired}); err != nil {
		return err
	}
	autostart := p.resolved.Unit.Autostart
	if !running {
		if p.Action == ActionCreate && autostart {
			return m.Start(ctx, p.Name)
		}
		return nil
	}
	switch p.Activation {
	case EffectRestart:
		m.logf("restarting %s to apply the change", p.Name)
		if err := m.Stop(ctx, p.Name); err != nil {
			return err
		}
		return m.Start(ctx, p.Name)
	case EffectReload:
		if len(p.NAT) > 0 && opts.RefreshNAT != nil {
			if err := opts.RefreshNAT(p.Name); err != nil {
				return err
			}
		}
		if p.Effect == EffectRestart {
			m.logf("machine %s: some changes need a restart; its activation strategy (%s) leaves that to the next start", p.Name, p.resolved.Unit.Activation.InEffect())
		}
	}
	return nil
}

// natLines is everything a record holds in io.systemd.nat, as plan shows it.
func natLines(rec *state.Record) []string {
	return append(append(slices.Clone(rec.Forwards), rec.Masquerade...), rec.Exposure...)
}
