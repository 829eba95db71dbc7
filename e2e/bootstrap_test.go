package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/engine"
	"github.com/nspawnctl/nspawnctl/machine/state"
	"github.com/nspawnctl/nspawnctl/nat"
)

// The bootstrap scenario runs on this machine, not in a test host: the test
// host has no route to a Debian mirror, and mmdebstrap is the part under
// test. systemd itself is faked (there is none here); the lifecycle against
// a real systemd is what the other scenarios prove.

type noUnits struct{}

func (noUnits) Start(context.Context, string) error                 { return nil }
func (noUnits) Stop(context.Context, string) error                  { return nil }
func (noUnits) Reload(context.Context) error                        { return nil }
func (noUnits) ResetFailed(context.Context, string) error           { return nil }
func (noUnits) ActiveState(context.Context, string) (string, error) { return "inactive", nil }

type noNetworkd struct{}

func (noNetworkd) Reload(context.Context) error { return nil }

// TestBootstrapRoot creates a machine whose root is bootstrapped with
// mmdebstrap, as `root { bootstrap { ... } }` asks, into a scratch file
// system root, and checks what a user relies on: a Debian root with systemd,
// networkd enabled and configured for host0, the machine's hostname, and a
// remove that deletes the root it made.
func TestBootstrapRoot(t *testing.T) {
	testhost.SkipUnlessEnabled(t)
	ctx := testhost.Context(t)
	mirror := testhost.DetectMirror("/etc/apt")
	fsroot := t.TempDir()
	src := fmt.Sprintf(`machine "boot" {
  root {
    bootstrap {
      suite    = "bookworm"
      mirror   = %q
      packages = ["busybox"]
    }
  }
  forward_port {
    host_port      = 8080
    container_port = 80
  }
}
`, mirror)
	p := config.NewParser()
	f, diags := p.ParseSource("boot.hcl", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var id [16]byte
	cfg := &config.Config{Files: []string{"boot.hcl"}, Machines: []*config.Machine{&f.Machines[0]}}
	var progress strings.Builder
	m := &engine.Manager{
		FSRoot: fsroot, Store: &state.Store{Dir: filepath.Join(fsroot, "var/lib/nspawnctl")},
		Units: noUnits{}, Networkd: noNetworkd{}, NAT: nat.NewStore(filepath.Join(fsroot, "var/lib/nspawnctl")),
		Binary: "/usr/local/bin/nspawnctl", MachineID: id,
		Run: host.ExecRun(&progress), Out: &progress,
	}
	r, vd, err := m.Resolve(cfg)
	if err != nil || vd.HasErrors() {
		t.Fatal(err, vd)
	}
	start := time.Now()
	if err := m.Create(ctx, r, "boot", engine.CreateOptions{Ownership: state.OwnerImperative}); err != nil {
		t.Fatalf("create: %v\n%s", err, progress.String())
	}
	t.Logf("bootstrap with mmdebstrap from %s: %s", mirror, time.Since(start).Round(time.Second))
	if !strings.Contains(progress.String(), "bootstrapping bookworm") {
		t.Errorf("no progress was shown while bootstrapping:\n%s", progress.String())
	}

	root := filepath.Join(fsroot, "var/lib/machines/boot")
	for path, want := range map[string]string{
		"etc/os-release":                       "bookworm",
		"etc/hostname":                         "boot\n",
		"etc/systemd/network/20-host0.network": "Name=host0",
	} {
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %v, content %q lacks %q", path, err, b, want)
		}
	}
	for _, link := range []string{"etc/systemd/system/multi-user.target.wants/systemd-networkd.service", "bin/busybox", "lib/systemd/systemd"} {
		if _, err := os.Stat(filepath.Join(root, link)); err != nil {
			t.Errorf("the bootstrapped root lacks %s: %v", link, err)
		}
	}
	if _, err := os.Stat(filepath.Join(fsroot, "var/lib/machines/.boot.nspawnctl-tmp")); err == nil {
		t.Error("the temporary bootstrap directory was left behind")
	}

	if err := m.Remove(ctx, "boot", engine.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("remove kept the root it bootstrapped: %v", err)
	}
}
