package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// The NixOS module's boot order on a real systemd: the units that the
// module's evaluated options define (nixos-module/tests/nixos/eval.nix,
// nixpkgs' real module system) are written as unit files into the test host,
// and machines.target is started as at boot, twice: once with nothing
// created (apply creates and starts the machine itself while
// nspawnctl-autostart waits for it: no deadlock), and once after a
// simulated reboot (nspawnctl's runtime drop-ins in /run and the nft ruleset
// gone, as on a fresh boot), where the autostarted machine must start once,
// after apply, with its limits and forward in place.

// nixosModule is the NixOS configuration under test. The package and
// systemd "derivations" point at the test host's own files, so the unit
// commands the module evaluates to run there.
const nixosModule = `{
  services.nspawnctl.enable = true;
  services.nspawnctl.checkConfig = false;
  services.nspawnctl.package = { type = "derivation"; name = "nspawnctl"; outPath = "/usr/local"; };
  systemd.package = { type = "derivation"; name = "systemd"; outPath = "/usr"; };
  services.nspawnctl.machines.nboot = {
    root.tarball = "/var/tmp/web.tar";
    autoStart = true;
    forwardPorts = [ { hostPort = 8481; containerPort = 80; } ];
    limits.memoryMax = "300M";
  };
}`

// evaluatedUnit is a unit of the evaluated systemd.services.
type evaluatedUnit struct {
	Description   string         `json:"description"`
	WantedBy      []string       `json:"wantedBy"`
	Wants         []string       `json:"wants"`
	After         []string       `json:"after"`
	Before        []string       `json:"before"`
	PartOf        []string       `json:"partOf"`
	Path          []string       `json:"path"`
	UnitConfig    map[string]any `json:"unitConfig"`
	ServiceConfig map[string]any `json:"serviceConfig"`
}

// evaluateNixOS evaluates nixosModule with the NixOS module and returns the
// generated configuration and the nspawnctl units.
func evaluateNixOS(t *testing.T) (string, map[string]evaluatedUnit) {
	t.Helper()
	bin, err := exec.LookPath("nix-instantiate")
	if err != nil {
		t.Skip("nix-instantiate is not installed (apt-get install nix-bin; .ci/run does): the NixOS boot order is not tested")
	}
	evalNix, err := filepath.Abs("../nixos-module/tests/nixos/eval.nix")
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	cmd := exec.Command(bin, "--eval", "--strict", "--json", "-E",
		fmt.Sprintf("import (/. + %q) { modules = [ (%s) ]; }", evalNix, nixosModule))
	cmd.Env = append(os.Environ(), "NIX_STATE_DIR="+state, "NIX_LOG_DIR="+state, "NIX_CONF_DIR="+state, "HOME="+state, "NIX_PATH=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("evaluating the NixOS module: %v\n%s", err, stderr.String())
	}
	var r struct {
		Document string                   `json:"document"`
		Units    map[string]evaluatedUnit `json:"units"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r.Document, r.Units
}

// unitFile writes a service as NixOS' unit generation does for these keys:
// list options become space-separated dependencies, path becomes PATH,
// repeated keys (lists in serviceConfig) one line each.
func unitFile(u evaluatedUnit) string {
	var b strings.Builder
	b.WriteString("[Unit]\n")
	if u.Description != "" {
		fmt.Fprintf(&b, "Description=%s\n", u.Description)
	}
	for _, d := range []struct {
		key   string
		units []string
	}{{"Wants", u.Wants}, {"After", u.After}, {"Before", u.Before}, {"PartOf", u.PartOf}} {
		if len(d.units) > 0 {
			fmt.Fprintf(&b, "%s=%s\n", d.key, strings.Join(d.units, " "))
		}
	}
	writeKeys(&b, u.UnitConfig)
	b.WriteString("\n[Service]\n")
	if len(u.Path) > 0 {
		var dirs []string
		for _, p := range u.Path {
			dirs = append(dirs, p+"/bin", p+"/sbin")
		}
		fmt.Fprintf(&b, "Environment=\"PATH=%s\"\n", strings.Join(dirs, ":"))
	}
	writeKeys(&b, u.ServiceConfig)
	return b.String()
}

func writeKeys(b *strings.Builder, keys map[string]any) {
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		values, ok := keys[k].([]any)
		if !ok {
			values = []any{keys[k]}
		}
		for _, v := range values {
			fmt.Fprintf(b, "%s=%v\n", k, v)
		}
	}
}

// bootMachines starts machines.target as the boot does, bounded: a
// deadlock between apply and the machines' start jobs shows as a timeout.
func bootMachines(t *testing.T, ctx context.Context, h *testhost.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if r := h.Run(ctx, "systemctl", "start", "machines.target"); r.Code != 0 || r.Err != nil {
		t.Fatalf("systemctl start machines.target: %s\n%s\n%s", r, h.Journal("nspawnctl-apply.service"), h.Journal("nspawnctl-autostart.service"))
	}
}

// monotonic reads a systemd unit's monotonic timestamp property.
func monotonic(t *testing.T, ctx context.Context, h *testhost.Host, unit, prop string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(strings.TrimSpace(mustRun(t, ctx, h, "systemctl", "show", "--value", "-p", prop, unit)), 10, 64)
	if err != nil {
		t.Fatalf("%s %s: %v", unit, prop, err)
	}
	return v
}

// startsSince counts the starts of unit logged since the epoch second since.
func startsSince(t *testing.T, ctx context.Context, h *testhost.Host, unit string, since string) int {
	t.Helper()
	out := mustRun(t, ctx, h, "journalctl", "--no-pager", "-o", "cat", "-u", unit, "--since", "@"+since)
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Started ") {
			n++
		}
	}
	return n
}

// TestNixOSBootOrder runs the NixOS module's units on a real systemd.
func TestNixOSBootOrder(t *testing.T) {
	doc, units := evaluateNixOS(t)
	h, ctx := nspawnctlHost(t)
	const unit = "systemd-nspawn@nboot.service"

	timed(t, "install the module's units", func() {
		if err := h.WriteFile(ctx, "/etc/nspawnctl/nixos.hcl.json", doc, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"nspawnctl-apply", "nspawnctl-autostart"} {
			u, ok := units[name]
			if !ok {
				t.Fatalf("the module defines no %s: %v", name, units)
			}
			if err := h.WriteFile(ctx, "/etc/systemd/system/"+name+".service", unitFile(u), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s.service:\n%s", name, unitFile(u))
			for _, target := range u.WantedBy {
				mustRun(t, ctx, h, "sh", "-ec", fmt.Sprintf("mkdir -p /etc/systemd/system/%s.wants && ln -sf ../%s.service /etc/systemd/system/%s.wants/", target, name, target))
			}
		}
		// The profile path the unit hooks call nspawnctl through.
		mustRun(t, ctx, h, "sh", "-ec", "mkdir -p /run/current-system/sw/bin && ln -sf "+testhost.NspawnctlPath+" /run/current-system/sw/bin/nspawnctl && systemctl daemon-reload")
	})

	timed(t, "first boot: apply creates and starts the machine", func() {
		bootMachines(t, ctx, h)
		webReachable(t, ctx, h, 8481, "hello from", 120*time.Second)
	})

	var since string
	timed(t, "reboot: runtime state gone", func() {
		mustRun(t, ctx, h, "systemctl", "stop", "machines.target", "nspawnctl-autostart.service", "nspawnctl-apply.service", unit)
		// What a reboot clears: /run (nspawnctl's drop-ins and autostart
		// link there) and the kernel's nft ruleset.
		mustRun(t, ctx, h, "sh", "-ec", "rm -rf /run/systemd/system/"+unit+".d /run/systemd/system/machines.target.wants/"+unit+
			" && nft flush ruleset && systemctl daemon-reload")
		if got := strings.TrimSpace(mustRun(t, ctx, h, "systemctl", "show", "--value", "-p", "MemoryMax", unit)); got != "infinity" {
			t.Fatalf("after removing nspawnctl's drop-in, %s still has MemoryMax=%s", unit, got)
		}
		since = strings.TrimSpace(mustRun(t, ctx, h, "date", "+%s"))
	})

	timed(t, "boot: the autostarted machine starts once, after apply", func() {
		bootMachines(t, ctx, h)
		webReachable(t, ctx, h, 8481, "hello from", 120*time.Second)
		if n := startsSince(t, ctx, h, unit, since); n != 1 {
			t.Errorf("%s started %d times during the boot, want once:\n%s", unit, n, h.Journal(unit))
		}
		applyDone := monotonic(t, ctx, h, "nspawnctl-apply.service", "ExecMainExitTimestampMonotonic")
		started := monotonic(t, ctx, h, unit, "ExecMainStartTimestampMonotonic")
		if applyDone == 0 || started < applyDone {
			t.Errorf("%s started at %d, before nspawnctl-apply finished (%d)", unit, started, applyDone)
		}
		if got := strings.TrimSpace(mustRun(t, ctx, h, "systemctl", "show", "--value", "-p", "MemoryMax", unit)); got != "314572800" {
			t.Errorf("%s runs with MemoryMax=%s, want 314572800 (limits.memoryMax = 300M)", unit, got)
		}
	})
}
