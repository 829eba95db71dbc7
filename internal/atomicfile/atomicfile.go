// Package atomicfile writes files so that readers see either the old or the
// new content, never a half-written file: data goes to a temporary file in
// the same directory, is synced, and is renamed over the target. A process
// killed between the two leaves the temporary file under a name that
// RemoveLeftovers recognises, so the next run can take it away.
package atomicfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nspawnctl/nspawnctl/internal/crashpoint"
)

// Write replaces path with data and mode, creating parent directories (0755).
// It reports changed=false, and touches nothing, when the file already has
// exactly that content and mode, so that re-running nspawnctl changes nothing.
func Write(path string, data []byte, mode os.FileMode) (changed bool, err error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm() == mode.Perm() {
			return false, nil
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("creating directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempMarker+"*")
	if err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename succeeded
	crashpoint.Hit("atomicfile: created " + tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return false, fmt.Errorf("setting the mode of %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	crashpoint.Hit("atomicfile: wrote " + tmp.Name())
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("replacing %s: %w", path, err)
	}
	crashpoint.Hit("atomicfile: renamed to " + path)
	return true, nil
}

// Symlink makes path a symbolic link to target, replacing whatever link was
// there, atomically. It reports changed=false when the link already points there.
func Symlink(target, path string) (changed bool, err error) {
	if cur, err := os.Readlink(path); err == nil && cur == target {
		return false, nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("creating directory %s: %w", dir, err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+tempMarker+"link")
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return false, fmt.Errorf("linking %s: %w", path, err)
	}
	crashpoint.Hit("atomicfile: linked " + tmp)
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return false, fmt.Errorf("linking %s: %w", path, err)
	}
	return true, nil
}
