package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

// The last remove keeps /etc/systemd/nspawn when it was there before the
// first create (a system directory, on NixOS or after machinectl use), and
// takes it away when nspawnctl made it; the same for a directory inside a
// root nspawnctl did not create.
func TestRemoveKeepsDirectoriesNspawnctlDidNotCreate(t *testing.T) {
	for _, existed := range []bool{true, false} {
		m, _, _ := testManager(t)
		root := filepath.Join(m.FSRoot, "var/lib/machines/web")
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if existed {
			for _, d := range []string{render.NspawnDir, "/etc/systemd/network", "/var/lib/machines/web/etc/systemd/network"} {
				if err := os.MkdirAll(m.host(d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		ctx := context.Background()
		if err := m.Create(ctx, resolveSource(t, webConfig), "web", CreateOptions{Ownership: state.OwnerImperative}); err != nil {
			t.Fatal(err)
		}
		if err := m.Remove(ctx, "web", RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{render.NspawnDir, "/etc/systemd/network", "/var/lib/machines/web/etc/systemd/network"} {
			_, err := os.Stat(m.host(d))
			if existed && err != nil {
				t.Errorf("remove deleted %s, which was there before nspawnctl: %v", d, err)
			}
			if !existed && err == nil {
				t.Errorf("remove left %s, which the create made", d)
			}
		}
		if _, err := os.Stat(m.host("/var/lib/machines/web/etc")); err != nil {
			t.Errorf("remove deleted the root's own /etc: %v", err)
		}
	}
}
