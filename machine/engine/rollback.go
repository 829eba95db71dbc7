package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

// Rollback returns machine name to generation to (0: the one before the
// current), rewriting its files and NAT definition from the stored
// generation, and restarting or reloading it if it runs and the change needs it.
func (m *Manager) Rollback(ctx context.Context, name string, to int, refreshNAT func(string) error) (err error) {
	rec, err := m.Store.Load(name)
	if err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("machine %s is not managed by nspawnctl", name)
	}
	gens, err := m.Store.Generations(name)
	if err != nil {
		return err
	}
	var target *state.Generation
	for _, g := range gens {
		if (to == 0 && g.Number < rec.Generation) || g.Number == to {
			target = g
		}
	}
	if target == nil {
		if to == 0 {
			return fmt.Errorf("machine %s has no generation before %d to roll back to (see nspawnctl generations %s)", name, rec.Generation, name)
		}
		return fmt.Errorf("machine %s has no generation %d (see nspawnctl generations %s)", name, to, name)
	}
	effect := EffectNone
	keep := map[string]bool{}
	for _, a := range target.Artifacts {
		keep[a.Path] = true
		if fc, changed := m.fileChange(a); changed {
			effect = strongest(effect, effectOf(a, fc))
		}
	}
	for _, a := range rec.Artifacts {
		if !keep[a.Path] {
			effect = strongest(effect, effectOfPath(a.Path))
		}
	}
	natChanged := !slices.Equal(natLines(rec), natLines(&target.Record))
	if natChanged {
		effect = strongest(effect, EffectReload)
	}
	undo := &undoLog{}
	defer func() {
		if err != nil {
			if uerr := undo.run(); uerr != nil {
				err = fmt.Errorf("%w; undoing also failed: %v", err, uerr)
			}
		}
	}()
	for _, a := range target.Artifacts {
		if _, err := m.writeArtifact(a, undo); err != nil {
			return err
		}
	}
	if err := m.removeStale(rec, target.Record.Artifacts, undo); err != nil {
		return err
	}
	if render.NeedsNAT(target.NAT) {
		if err := m.saveNAT(target.NAT, undo); err != nil {
			return err
		}
	}
	nrec := target.Record
	nrec.Updated = m.now()
	nrec.Generation = target.Number
	if err := m.Store.Save(&nrec); err != nil {
		return err
	}
	undo.add(func() error { return m.Store.Save(rec) })
	// Last, as in Create: a deleted definition cannot be put back.
	if !render.NeedsNAT(target.NAT) {
		if err := m.NAT.Delete(name); err != nil {
			return err
		}
	}
	undo.commit()
	if err := m.Units.Reload(ctx); err != nil {
		return err
	}
	if err := m.Networkd.Reload(ctx); err != nil {
		m.logf("warning: %v", err)
	}
	m.logf("machine %s is at generation %d", name, target.Number)
	state, _ := m.Units.ActiveState(ctx, render.UnitName(name))
	if state != "active" {
		return nil
	}
	switch activation(resolve.Activation(rec.Activation).InEffect(), effect) {
	case EffectRestart:
		if err := m.Stop(ctx, name); err != nil {
			return err
		}
		return m.Start(ctx, name)
	case EffectReload:
		if natChanged && refreshNAT != nil {
			return refreshNAT(name)
		}
	}
	return nil
}
