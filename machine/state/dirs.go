package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nspawnctl/nspawnctl/internal/atomicfile"
)

// Directories nspawnctl created are recorded host-wide in DIR/dirs.json, so
// that the last remove takes away a directory the first create made (say
// /etc/systemd/nspawn on Debian, which does not ship it) and never one that
// was there before (the same directory on a host that had it, a user's
// drop-in directory). The record is written before the directory is made,
// so a kill in between leaves at most a recorded path that does not exist.

func (s *Store) dirsPath() string { return filepath.Join(s.Dir, "dirs.json") }

// OwnedDirs returns the directories nspawnctl created and has not removed.
func (s *Store) OwnedDirs() (map[string]bool, error) {
	b, err := os.ReadFile(s.dirsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.dirsPath(), err)
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%v); move it away (nspawnctl then keeps the directories it made)", s.dirsPath(), err)
	}
	out := map[string]bool{}
	for _, d := range list {
		out[d] = true
	}
	return out, nil
}

// SetOwnedDirs records add as nspawnctl's and forgets drop (and everything
// below each path in drop).
func (s *Store) SetOwnedDirs(add, drop []string) error {
	owned, err := s.OwnedDirs()
	if err != nil {
		return err
	}
	n := len(owned)
	for _, d := range add {
		owned[d] = true
	}
	for _, d := range drop {
		for o := range owned {
			if o == d || strings.HasPrefix(o, d+"/") {
				delete(owned, o)
			}
		}
	}
	if len(add) == 0 && len(owned) == n {
		return nil
	}
	if len(owned) == 0 {
		if err := os.Remove(s.dirsPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("recording the directories nspawnctl created: %w", err)
		}
		return nil
	}
	list := make([]string, 0, len(owned))
	for d := range owned {
		list = append(list, d)
	}
	sort.Strings(list)
	b, _ := json.MarshalIndent(list, "", "  ")
	if err := atomicfile.RemoveLeftovers(s.dirsPath()); err != nil {
		return err
	}
	if _, err := atomicfile.Write(s.dirsPath(), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("recording the directories nspawnctl created: %w", err)
	}
	return nil
}
