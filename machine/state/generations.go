package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// NextGeneration is one more than the newest stored generation.
func (s *Store) NextGeneration(name string) (int, error) {
	gens, err := s.Generations(name)
	if err != nil {
		return 0, err
	}
	if len(gens) == 0 {
		return 1, nil
	}
	return gens[len(gens)-1].Number + 1, nil
}
