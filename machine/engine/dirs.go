package engine

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nspawnctl/nspawnctl/internal/atomicfile"
)

// claimMissingDirs records every directory that writing the file at path
// (a host path) is about to create, before it is created.
func (m *Manager) claimMissingDirs(path string) error {
	var missing []string
	for dir := filepath.Dir(path); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if _, err := os.Lstat(m.host(dir)); err == nil {
			break
		}
		missing = append(missing, dir)
	}
	if len(missing) == 0 {
		return nil
	}
	return m.Store.SetOwnedDirs(missing, nil)
}

// removeEmptyDirs removes the directory of an artefact at path, and its
// parents, while each is empty and nspawnctl created it. A unit's drop-in or
// .wants directory and an uplink's .network.d directory count as created by
// nspawnctl also when an older nspawnctl made them without recording it:
// they exist only for the files nspawnctl puts there.
func (m *Manager) removeEmptyDirs(path string) {
	owned, err := m.Store.OwnedDirs()
	if err != nil {
		m.logf("warning: %v", err)
		return
	}
	var removed []string
	for dir := filepath.Dir(path); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		dropIn := strings.HasSuffix(dir, ".service.d") || strings.HasSuffix(dir, ".wants") || strings.HasSuffix(dir, ".network.d")
		if !owned[dir] && !dropIn {
			break
		}
		if err := os.Remove(m.host(dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			break // not empty: another file still lives there
		}
		removed = append(removed, dir)
	}
	if err := m.Store.SetOwnedDirs(nil, removed); err != nil {
		m.logf("warning: %v", err)
	}
}

// forgetDirsUnder drops the records of directories below root, which went
// with the root.
func (m *Manager) forgetDirsUnder(root string) error {
	return m.Store.SetOwnedDirs(nil, []string{root})
}

// removeNATLeftovers deletes the temporary files a killed write of machine
// name's NAT definition left in STATEDIR/nat (nat.Store writes them with
// atomicfile). Only the definition is written under the state lock, so only
// its leftovers are taken; the .up marker belongs to the unit's hooks.
func (m *Manager) removeNATLeftovers(name string) error {
	return atomicfile.RemoveLeftovers(filepath.Join(m.Store.Dir, "nat", name+".json"))
}
