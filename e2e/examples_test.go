package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/engine"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
)

// exampleDir is where TestExamplesApplyThenPlan declares one example at a
// time inside the test host.
const exampleDir = "/root/example"

// exampleOnTestHost adapts an example to the test host without changing
// what it declares: its uplink is the test host's uplink0 (eth1, a bridge's
// uplink, a veth made for it), and machines are not started (their roots
// are empty directories; starting is what the other scenarios prove).
func exampleOnTestHost(src string) string {
	src = strings.ReplaceAll(src, `"eth0"`, `"uplink0"`)
	src = strings.ReplaceAll(src, `"eth1"`, `"e2elan0"`)
	src = regexp.MustCompile(`autostart(\s*)=(\s*)true`).ReplaceAllString(src, "autostart${1}=${2}false")
	return strings.ReplaceAll(src, `"autostart": true`, `"autostart": false`)
}

// TestExamplesApplyThenPlan applies every example (the Nebula one
// included, with a CA from "nspawnctl nebula ca init") on a real systemd
// host and plans it again right away: every machine must be unchanged, so
// what apply wrote (keys, certificates, units, networkd files, NAT) is
// exactly what plan computes. Then apply --prune removes the machines
// again, so the next example starts from a clean host.
func TestExamplesApplyThenPlan(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	mustNspawnctl(t, ctx, h, "nebula", "ca", "init", "--name", "corp", "--out", testhost.NebulaCADir)
	mustRun(t, ctx, h, "ip", "link", "add", "e2elan0", "type", "veth", "peer", "name", "e2elan1")

	files, err := filepath.Glob("../examples/*.hcl*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		timed(t, "example "+name, func() {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			src := exampleOnTestHost(string(raw))
			roots := exampleRoots(t, name, src)
			mustRun(t, ctx, h, "rm", "-rf", exampleDir)
			if err := h.WriteFile(ctx, exampleDir+"/"+name, src, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, r := range roots {
				makeEmptyRoot(t, ctx, h, r)
			}
			mustNspawnctl(t, ctx, h, "apply", exampleDir)
			r := mustNspawnctl(t, ctx, h, "plan", "--json", exampleDir)
			var plans []engine.MachinePlan
			if err := json.Unmarshal([]byte(r.Stdout), &plans); err != nil {
				t.Fatalf("plan --json of %s: %v\n%s", name, err, r.Stdout)
			}
			if len(plans) == 0 {
				t.Errorf("plan of %s lists no machine", name)
			}
			for _, p := range plans {
				if p.Action != engine.ActionUnchanged || len(p.Files) > 0 || len(p.NAT) > 0 {
					t.Errorf("example %s: plan right after apply shows %s for %s: files %+v, nat %v", name, p.Action, p.Name, p.Files, p.NAT)
				}
			}
			// Remove the example's machines again: an empty declaration, pruned.
			mustRun(t, ctx, h, "rm", "-f", exampleDir+"/"+name)
			if err := h.WriteFile(ctx, exampleDir+"/empty.hcl", "# nothing declared\n", 0o644); err != nil {
				t.Fatal(err)
			}
			mustNspawnctl(t, ctx, h, "apply", "--prune", exampleDir)
			if out := mustRun(t, ctx, h, "sh", "-c", "ls /var/lib/nspawnctl/machines 2>/dev/null | grep -c json || true"); strings.TrimSpace(out) != "0" {
				t.Errorf("example %s: machines left after apply --prune: %s", name, out)
			}
			for _, r := range roots {
				mustRun(t, ctx, h, "rm", "-rf", r.dir)
			}
		})
	}
}

// exampleRoot is a machine root an example points at.
type exampleRoot struct{ dir, kind string }

// exampleRoots validates an example here (pure, no host) for the roots its
// machines use, so that the scenario can put empty ones in place instead
// of bootstrapping, importing or building them.
func exampleRoots(t *testing.T, name, src string) []exampleRoot {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.NewParser().Load([]string{tmp})
	if diags.HasErrors() {
		t.Fatalf("example %s: %v", name, diags)
	}
	r, diags := resolve.Validate(cfg, resolve.HostFacts{})
	if diags.HasErrors() {
		t.Fatalf("example %s: %v", name, diags)
	}
	var out []exampleRoot
	for _, m := range r.Machines {
		out = append(out, exampleRoot{m.RootDir, string(m.RootKind)})
	}
	return out
}

// makeEmptyRoot puts an empty root where a machine's root goes: a file for
// an image, a directory with an os-release otherwise.
func makeEmptyRoot(t *testing.T, ctx context.Context, h *testhost.Host, r exampleRoot) {
	t.Helper()
	if r.kind == "image" {
		mustRun(t, ctx, h, "sh", "-c", `mkdir -p "$(dirname "$1")" && touch "$1"`, "sh", r.dir)
		return
	}
	mustRun(t, ctx, h, "mkdir", "-p", path.Join(r.dir, "etc"))
	mustRun(t, ctx, h, "touch", path.Join(r.dir, "etc/os-release"))
}
