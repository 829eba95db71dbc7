package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/nspawnctl/nspawnctl/internal/atomicfile"
	"github.com/nspawnctl/nspawnctl/machine/state"
	"github.com/nspawnctl/nspawnctl/nat"
)

// The steps below change the host and log in undo how to put back what was
// there before, so that a create, apply or rollback that fails later leaves
// the machine as it found it: its files, the ones it wrote and the ones it
// removed as stale, and its NAT definition.

// saveNAT saves nm as its machine's NAT definition; undo puts the previous
// definition back, or deletes the new one when there was none.
func (m *Manager) saveNAT(nm nat.Machine, undo *undoLog) error {
	prev, loadErr := m.NAT.Load(nm.Name)
	if err := m.NAT.Save(nm); err != nil {
		return fmt.Errorf("saving the NAT definition of %s: %w", nm.Name, err)
	}
	undo.add(func() error {
		if loadErr == nil {
			return m.NAT.Save(prev)
		}
		// None before (or one that could not be read, which is no better
		// than none: the next apply writes it again).
		return m.NAT.Delete(nm.Name)
	})
	return nil
}

// removeStale deletes the files prev recorded that now does not list.
func (m *Manager) removeStale(prev *state.Record, now []state.ArtifactRecord, undo *undoLog) error {
	keep := map[string]bool{}
	for _, a := range now {
		keep[a.Path] = true
	}
	for _, a := range prev.Artifacts {
		if !keep[a.Path] {
			if err := m.removeArtifactUndoable(a, undo); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeArtifactUndoable is removeArtifact, with undo writing the file (or
// link) back as it was, in directories recreated and owned as before.
func (m *Manager) removeArtifactUndoable(a state.ArtifactRecord, undo *undoLog) error {
	dst := m.host(a.Path)
	st, err := os.Lstat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return m.removeArtifact(a) // gone already; its directories may still go
	case err != nil:
		return fmt.Errorf("removing %s: %w", a.Path, err)
	}
	var restore func() error
	if st.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(dst)
		if err != nil {
			return fmt.Errorf("removing %s: reading the link first, to put it back should the change fail: %w", a.Path, err)
		}
		restore = func() error { _, err := atomicfile.Symlink(target, dst); return err }
	} else {
		old, err := os.ReadFile(dst)
		if err != nil {
			return fmt.Errorf("removing %s: reading it first, to put it back should the change fail: %w", a.Path, err)
		}
		mode := st.Mode().Perm()
		restore = func() error { _, err := atomicfile.Write(dst, old, mode); return err }
	}
	if err := m.removeArtifact(a); err != nil {
		return err
	}
	undo.add(func() error {
		// removeArtifact may have taken directories nspawnctl made: they
		// come back, recorded as nspawnctl's again.
		if err := m.claimMissingDirs(a.Path); err != nil {
			return err
		}
		return restore()
	})
	return nil
}
