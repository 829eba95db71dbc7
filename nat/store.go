package nat

import (
	"github.com/nspawnctl/nspawnctl/internal/atomicfile"

	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultStateDir is nspawnctl's state directory (DESIGN.md).
const DefaultStateDir = "/var/lib/nspawnctl"

// Store keeps the desired forwards on disk, so they can be re-applied after
// something flushed the ruleset. Layout under STATEDIR/nat:
//
//	NAME.json  the machine's definition (Save/Load/Delete/List)
//	NAME.up    present while the machine runs ("nat up" creates it, "nat down" removes it);
//	           it holds the definition as installed (MarkUp, InstalledDef)
//
// A machine is active when it has both: only active machines have forwards
// in the kernel, so a stopped machine's forwards neither linger nor come
// back with "nat restore".
type Store struct {
	Dir string // STATEDIR/nat
}

// NewStore returns the store under stateDir ("" means DefaultStateDir).
func NewStore(stateDir string) *Store {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	return &Store{Dir: filepath.Join(stateDir, "nat")}
}

func (s *Store) path(name, ext string) (string, error) {
	if err := (Machine{Name: name}).Validate(); err != nil {
		return "", err
	}
	return filepath.Join(s.Dir, name+ext), nil
}

// Save validates the machine and writes its definition atomically (a temp
// file in the same directory, synced, then renamed over the old one).
func (s *Store) Save(m Machine) error {
	if err := m.Validate(); err != nil {
		return err
	}
	p, _ := s.path(m.Name, ".json")
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode machine %q: %w", m.Name, err)
	}
	return writeAtomic(p, append(data, '\n'))
}

func writeAtomic(path string, data []byte) error {
	_, err := atomicfile.Write(path, data, 0o644)
	return err
}

// ErrNotFound is returned (wrapped) by Load for a machine without a record.
var ErrNotFound = errors.New("no nat record")

// Load reads one machine's definition.
func (s *Store) Load(name string) (Machine, error) {
	p, err := s.path(name, ".json")
	if err != nil {
		return Machine{}, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Machine{}, machineErrorf(name, "machine %q: %w in %s: apply its configuration first", name, ErrNotFound, s.Dir)
	}
	if err != nil {
		return Machine{}, machineErrorf(name, "machine %q: read %s: %w", name, p, err)
	}
	var m Machine
	if err := json.Unmarshal(data, &m); err != nil {
		return Machine{}, machineErrorf(name, "machine %q: %s is corrupt: %w (delete it and apply the configuration again)", name, p, err)
	}
	if m.Name != name {
		return Machine{}, machineErrorf(name, "machine %q: %s names machine %q: delete it and apply the configuration again", name, p, m.Name)
	}
	return m, m.Validate()
}

// Delete removes the machine's definition and its running marker; a
// missing record is not an error.
func (s *Store) Delete(name string) error {
	for _, ext := range []string{".json", ".up"} {
		p, err := s.path(name, ext)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return machineErrorf(name, "machine %q: remove %s: %w", name, p, err)
		}
	}
	return nil
}

// List returns every stored machine, sorted by name.
func (s *Store) List() ([]Machine, error) {
	names, err := s.names(".json")
	if err != nil {
		return nil, err
	}
	out := make([]Machine, 0, len(names))
	for _, n := range names {
		m, err := s.Load(n)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *Store) names(ext string) ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.Dir, err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ext); ok && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// SetUp records whether the machine runs (the NAME.up marker).
func (s *Store) SetUp(name string, up bool) error {
	p, err := s.path(name, ".up")
	if err != nil {
		return err
	}
	if up {
		return writeAtomic(p, nil)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return machineErrorf(name, "machine %q: remove %s: %w", name, p, err)
	}
	return nil
}

// MarkUp records that the machine runs with m's objects installed: the
// NAME.up marker holds the definition as installed, so that the next change
// (ReplaceMachine) knows what to look up and delete without reading every
// element back.
func (s *Store) MarkUp(m Machine) error {
	p, err := s.path(m.Name, ".up")
	if err != nil {
		return err
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode machine %q: %w", m.Name, err)
	}
	return writeAtomic(p, append(data, '\n'))
}

// MarkAllUp records each machine as installed (MarkUp), after an apply of
// all of them.
func (s *Store) MarkAllUp(ms []Machine) error {
	for _, m := range ms {
		if err := s.MarkUp(m); err != nil {
			return err
		}
	}
	return nil
}

// InstalledDef returns what MarkUp recorded as installed for the machine: a
// Machine with only the name when the machine is not up (nothing of it is
// installed), nil when the marker does not say (an empty marker of an
// earlier version, or a corrupt one), so the caller reads everything.
func (s *Store) InstalledDef(name string) *Machine {
	p, err := s.path(name, ".up")
	if err != nil {
		return nil
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &Machine{Name: name}
	}
	var m Machine
	if err != nil || json.Unmarshal(data, &m) != nil || m.Name != name || m.Validate() != nil {
		return nil
	}
	return &m
}

// IsUp reports whether the machine's running marker exists.
func (s *Store) IsUp(name string) bool {
	p, err := s.path(name, ".up")
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// Active returns the machines that are both defined and up: the desired
// state of the kernel.
func (s *Store) Active() ([]Machine, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var out []Machine
	for _, m := range all {
		if s.IsUp(m.Name) {
			out = append(out, m)
		}
	}
	return out, nil
}
