package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tempMarker is part of every temporary name Write and Symlink use for a
// target: ".BASE.nspawnctl-DIGITS" (files) and ".BASE.nspawnctl-link"
// (links), in the target's directory.
const tempMarker = ".nspawnctl-"

// IsLeftover reports whether name (a file name, no directory) is a temporary
// file that Write or Symlink made for the target base and did not rename,
// because the process was killed in between.
func IsLeftover(name, base string) bool {
	rest, ok := strings.CutPrefix(name, "."+base+tempMarker)
	if !ok {
		return false
	}
	if rest == "link" {
		return true
	}
	if rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// RemoveLeftovers deletes the temporary files that an interrupted Write or
// Symlink of path left next to it, and nothing else: only names IsLeftover
// accepts for path's own base name. The caller must hold whatever lock
// serialises writers of path, or it could take a concurrent writer's file.
func RemoveLeftovers(path string) error {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking for leftover temporary files of %s: %w", path, err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !IsLeftover(e.Name(), base) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing the leftover temporary file %s: %w", filepath.Join(dir, e.Name()), err))
		}
	}
	return errors.Join(errs...)
}
