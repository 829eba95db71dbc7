package machine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nspawnctl/nspawnctl/internal/atomicfile"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/nat"
)

// Generation is one applied configuration of a machine: everything needed
// to return to it without the configuration files it came from.
type Generation struct {
	Number      int               `json:"number"`
	Time        time.Time         `json:"time"`
	ConfigFiles []string          `json:"config_files,omitempty"`
	Artifacts   []render.Artifact `json:"artifacts"`
	NAT         nat.Machine       `json:"nat"`
	Record      Record            `json:"record"`
}

func (s *Store) generationsDir(name string) string { return filepath.Join(s.Dir, "generations", name) }

// SaveGeneration stores g for machine name.
func (s *Store) SaveGeneration(name string, g *Generation) error {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(s.generationsDir(name), strconv.Itoa(g.Number)+".json")
	_, err = atomicfile.Write(p, append(b, '\n'), 0o600)
	return err
}

// Generations lists machine name's generations, oldest first.
func (s *Store) Generations(name string) ([]*Generation, error) {
	entries, err := os.ReadDir(s.generationsDir(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing generations of %s: %w", name, err)
	}
	var out []*Generation
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if _, err := strconv.Atoi(n); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.generationsDir(name), e.Name()))
		if err != nil {
			return nil, err
		}
		var g Generation
		if err := json.Unmarshal(b, &g); err != nil {
			return nil, fmt.Errorf("generation %s of %s is corrupt: %w", n, name, err)
		}
		out = append(out, &g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// DeleteGeneration removes generation n of machine name (a create that failed after saving it).
func (s *Store) DeleteGeneration(name string, n int) error {
	err := os.Remove(filepath.Join(s.generationsDir(name), strconv.Itoa(n)+".json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_ = os.Remove(s.generationsDir(name)) // only when that was the machine's only generation
	return nil
}

// DeleteGenerations removes every generation of machine name.
func (s *Store) DeleteGenerations(name string) error {
	return os.RemoveAll(s.generationsDir(name))
}

// nextGeneration is one more than the newest stored generation.
func (s *Store) nextGeneration(name string) (int, error) {
	gens, err := s.Generations(name)
	if err != nil {
		return 0, err
	}
	if len(gens) == 0 {
		return 1, nil
	}
	return gens[len(gens)-1].Number + 1, nil
}

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
	var target *Generation
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
	if err := m.removeStale(rec, target.Record.Artifacts); err != nil {
		return err
	}
	if render.NeedsNAT(target.NAT) {
		err = m.NAT.Save(target.NAT)
	} else {
		err = m.NAT.Delete(name)
	}
	if err != nil {
		return err
	}
	nrec := target.Record
	nrec.Updated = m.now()
	nrec.Generation = target.Number
	if err := m.Store.Save(&nrec); err != nil {
		return err
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
	switch activation(cmp.Or(rec.Activation, ActivateAuto), effect) {
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
