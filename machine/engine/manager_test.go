package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/host/hostfake"

	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
	"github.com/nspawnctl/nspawnctl/nat"
)

type fakeNATStore map[string]nat.Machine

func (f fakeNATStore) Save(m nat.Machine) error { f[m.Name] = m; return nil }
func (f fakeNATStore) Delete(name string) error { delete(f, name); return nil }
func (f fakeNATStore) Load(name string) (nat.Machine, error) {
	if m, ok := f[name]; ok {
		return m, nil
	}
	return nat.Machine{}, fmt.Errorf("machine %q: %w", name, nat.ErrNotFound)
}

// testManager is a Manager on a temporary file system with fakes for systemd,
// networkd and the NAT store.
func testManager(t *testing.T) (*Manager, *hostfake.Units, fakeNATStore) {
	t.Helper()
	root := t.TempDir()
	units := hostfake.NewUnits()
	natStore := fakeNATStore{}
	m := &Manager{
		FSRoot: root, Store: &state.Store{Dir: filepath.Join(root, "var/lib/nspawnctl")},
		Units: units, Networkd: &hostfake.Networkd{}, NAT: natStore,
		Binary: "/usr/local/bin/nspawnctl", MachineID: testFacts.MachineID,
		Run: func(context.Context, io.Reader, string, ...string) error {
			return errors.New("no external programs in this test")
		},
	}
	return m, units, natStore
}

// listFiles returns every file and link under dir, relative to it.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

const webConfig = `machine "web" {
  forward_port {
    host_port      = 8181
    container_port = 80
  }
}
`

func TestCreateAndRemoveLeaveNothingBehind(t *testing.T) {
	m, units, natStore := testManager(t)
	root := filepath.Join(m.FSRoot, "var/lib/machines/web")
	// The root exists already (a directory root), with networkd enabled the
	// way Debian's systemd package would have it: that link is not ours.
	networkdLink := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/systemd-networkd.service")
	if err := os.MkdirAll(filepath.Dir(networkdLink), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/lib/systemd/system/systemd-networkd.service", networkdLink); err != nil {
		t.Fatal(err)
	}
	before := listFiles(t, m.FSRoot)

	r := resolveSource(t, webConfig)
	ctx := context.Background()
	if err := m.Create(ctx, r, "web", CreateOptions{Ownership: state.OwnerImperative}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{render.NspawnPath("web"), render.DropInPath(render.SystemDir, "web"), "/etc/systemd/network/20-ve-web.network",
		"/var/lib/machines/web/etc/systemd/network/20-host0.network", "/etc/systemd/system/" + nat.RestoreUnitName} {
		if _, err := os.Lstat(m.host(p)); err != nil {
			t.Errorf("after create: %v", err)
		}
	}
	if _, ok := natStore["web"]; !ok {
		t.Error("create saved no NAT definition")
	}
	if !strings.Contains(strings.Join(units.Calls, ","), "daemon-reload") {
		t.Errorf("create did not reload systemd: %v", units.Calls)
	}

	// A second imperative create of the same name is refused.
	err := m.Create(ctx, r, "web", CreateOptions{Ownership: state.OwnerImperative})
	if err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second create: err = %v, want a refusal", err)
	}
	// With --force it is re-created, and a generation is added.
	if err := m.Create(ctx, r, "web", CreateOptions{Ownership: state.OwnerImperative, Force: true}); err != nil {
		t.Fatal(err)
	}
	gens, err := m.Store.Generations("web")
	if err != nil || len(gens) != 2 {
		t.Errorf("generations = %d (%v), want 2", len(gens), err)
	}

	if err := m.Remove(ctx, "web", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	after := listFiles(t, m.FSRoot)
	// The state directory keeps its lock files; everything else is as before.
	var left []string
	for _, p := range after {
		if !strings.HasPrefix(p, "var/lib/nspawnctl/") {
			left = append(left, p)
		}
	}
	if strings.Join(left, "\n") != strings.Join(before, "\n") {
		t.Errorf("remove left the file system changed:\nbefore: %v\nafter:  %v", before, left)
	}
	if _, ok := natStore["web"]; ok {
		t.Error("remove kept the NAT definition")
	}
	if rec, _ := m.Store.Load("web"); rec != nil {
		t.Error("remove kept the state record")
	}
}

func TestCreateFailingHalfWayIsUndone(t *testing.T) {
	m, units, natStore := testManager(t)
	if err := os.MkdirAll(m.host("/var/lib/machines/web"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := listFiles(t, m.FSRoot)
	units.ReloadErr = errors.New("systemd is gone")
	err := m.Create(context.Background(), resolveSource(t, webConfig), "web", CreateOptions{Ownership: state.OwnerImperative})
	if err == nil || !strings.Contains(err.Error(), "nothing of machine web was left behind") {
		t.Fatalf("err = %v, want the failure and a note that nothing was left", err)
	}
	var left []string
	for _, p := range listFiles(t, m.FSRoot) {
		if !strings.HasPrefix(p, "var/lib/nspawnctl/") || strings.HasSuffix(p, ".json") {
			left = append(left, p)
		}
	}
	if strings.Join(left, "\n") != strings.Join(before, "\n") {
		t.Errorf("a failed create left files:\nbefore: %v\nafter:  %v", before, left)
	}
	if len(natStore) != 0 {
		t.Errorf("a failed create left a NAT definition: %v", natStore)
	}
}

func TestCreateRefusesAMissingRootWithARemedy(t *testing.T) {
	m, _, _ := testManager(t)
	err := m.Create(context.Background(), resolveSource(t, webConfig), "web", CreateOptions{Ownership: state.OwnerImperative})
	if err == nil || !strings.Contains(err.Error(), "does not exist; create it") {
		t.Errorf("err = %v, want the missing root named with a remedy", err)
	}
	if files := listFiles(t, m.FSRoot); len(files) > 0 {
		t.Errorf("a refused create wrote %v", files)
	}
}

func TestStartNamesAMissingBridge(t *testing.T) {
	m, units, _ := testManager(t)
	if err := os.MkdirAll(m.host("/var/lib/machines/web"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := resolveSource(t, `machine "web" {
  network {
    bridge = "br-nowhere"
  }
}
`)
	ctx := context.Background()
	if err := m.Create(ctx, r, "web", CreateOptions{Ownership: state.OwnerImperative}); err != nil {
		t.Fatal(err)
	}
	err := m.Start(ctx, "web")
	if err == nil || !strings.Contains(err.Error(), "bridge br-nowhere does not exist") {
		t.Errorf("err = %v, want the missing bridge named", err)
	}
	for _, c := range units.Calls {
		if strings.HasPrefix(c, "start ") {
			t.Errorf("the unit was started although its bridge is missing: %v", units.Calls)
		}
	}
}

// testFacts are fixed host facts, the same as machine/resolve's fixture
// tests use, so that allocations do not depend on the machine running the
// tests.
var testFacts = resolve.HostFacts{
	MachineID: [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef},
	Taken:     []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")},
}
