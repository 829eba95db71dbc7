package nixosmodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The tests in this file evaluate module.nix (and the flake's
// nixosModules.default) with nixpkgs' real module system: the vendored
// nixpkgs lib (../../shared/vendor/nixpkgs-lib), NixOS's own options as
// tests/nixos/nixos-options.nix declares them, nixpkgs' container profile,
// and a stand-in for eval-config.nix that evaluates containers' `config`.
//
//   tests/modules/NAME.nix          a NixOS module using services.nspawnctl (README examples)
//   tests/modules/NAME.hcl          its HCL twin
//   tests/modules/invalid/NAME.nix  evaluation must fail; line 1 is "# error: TEXT"
//   tests/modules/refused/NAME.nix  evaluates, but the build-time check (nspawnctl
//                                   validate) must refuse it; line 1 is "# refused: TEXT"
//
// The option sets tests/NAME.nix of nixos_test.go are evaluated through the
// module as well (as services.nspawnctl = import NAME.nix).

const (
	modulesDir = "tests/modules"
	evalNix    = "tests/nixos/eval.nix"
	vendorLib  = "../../shared/vendor/nixpkgs-lib/lib"
)

// moduleEval is what tests/nixos/eval.nix prints.
type moduleEval struct {
	Document     *string              `json:"document"`
	DocumentPath string               `json:"documentPath"`
	Units        map[string]unitGraph `json:"units"`
	Targets      map[string]unitGraph `json:"targets"`
	Checks       []struct {
		Name         string `json:"name"`
		Path         string `json:"path"`
		BuildCommand string `json:"buildCommand"`
	} `json:"checks"`
	Guests map[string]struct {
		HostName          string         `json:"hostName"`
		UseHostResolvConf bool           `json:"useHostResolvConf"`
		UseNetworkd       bool           `json:"useNetworkd"`
		IsContainer       bool           `json:"isContainer"`
		Resolved          bool           `json:"resolved"`
		NixRemote         *string        `json:"nixRemote"`
		Network           map[string]any `json:"network"`
		Toplevel          string         `json:"toplevel"`
	} `json:"guests"`
	Toplevel string `json:"toplevel"`
}

// unitGraph is a unit's dependencies as NixOS' systemd.services/targets hold them.
type unitGraph struct {
	WantedBy         []string       `json:"wantedBy"`
	Wants            []string       `json:"wants"`
	Requires         []string       `json:"requires"`
	After            []string       `json:"after"`
	Before           []string       `json:"before"`
	OverrideStrategy string         `json:"overrideStrategy"`
	ServiceConfig    map[string]any `json:"serviceConfig"`
	RestartIfChanged *bool          `json:"restartIfChanged"`
}

// evalModule evaluates services.nspawnctl with the given NixOS modules (Nix
// expressions) through module.nix, or through the flake's
// nixosModules.default.
func evalModule(t *testing.T, viaFlake bool, modules ...string) (*moduleEval, error) {
	t.Helper()
	requireVendorLib(t)
	parts := make([]string, len(modules))
	for i, m := range modules {
		parts[i] = "(" + m + ")"
	}
	expr := fmt.Sprintf("import (/. + %s) { modules = [ %s ]; viaFlake = %t; }", nixString(abs(t, evalNix)), strings.Join(parts, " "), viaFlake)
	out, err := runNix(t, "--eval", "--strict", "--json", "-E", expr)
	if err != nil {
		return nil, err
	}
	var r moduleEval
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("eval.nix printed %s: %v", out, err)
	}
	return &r, nil
}

// requireVendorLib fails (never skips: CI must run these tests) when
// nixpkgs' lib is not next to the repository.
func requireVendorLib(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(vendorLib); err != nil {
		t.Fatalf("nixpkgs' lib is not at %s (the repository's sibling shared/vendor/nixpkgs-lib; see shared/vendor/README.md): %v", abs(t, vendorLib), err)
	}
}

// fileModule is a Nix expression for the module in file.
func fileModule(t *testing.T, file string) string {
	return "/. + " + nixString(abs(t, file))
}

// optionSetModule makes an option set of tests/ a NixOS module. The HCL twins
// use nspawnctl's default unit_dir, so unitDir is unset (its NixOS default is
// checked in TestModuleBootOrder).
func optionSetModule(t *testing.T, file string) string {
	return fmt.Sprintf("{ imports = [ { services.nspawnctl = import (%s); } ]; services.nspawnctl.enable = true; services.nspawnctl.defaults.unitDir = null; }", fileModule(t, file))
}

const twinDefaults = "{ services.nspawnctl.defaults.unitDir = null; }"

// moduleExamples lists tests/modules/NAME.nix with their HCL twins.
func moduleExamples(t *testing.T) []optionSet {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(modulesDir, "*.nix"))
	if err != nil {
		t.Fatal(err)
	}
	var out []optionSet
	for _, m := range matches {
		name := strings.TrimSuffix(filepath.Base(m), ".nix")
		s := optionSet{name: name, nix: m, hcl: filepath.Join(modulesDir, name+".hcl")}
		if _, err := os.Stat(s.hcl); err != nil {
			t.Errorf("%s has no HCL twin %s", m, s.hcl)
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		t.Fatalf("no modules in %s", modulesDir)
	}
	return out
}

// TestModuleMatchesHCL evaluates every option set and every example module
// with the real module system, through module.nix and through the flake,
// and checks that the generated /etc/nspawnctl/nixos.hcl.json validates and
// renders byte-identical to its HCL twin.
func TestModuleMatchesHCL(t *testing.T) {
	nixInstantiate(t)
	type tc struct {
		name, twin string
		modules    []string
	}
	var cases []tc
	for _, s := range optionSets(t) {
		if s.name == "module-shaped" {
			continue // the module's own output, fed to translate.nix; not an option set a user writes
		}
		cases = append(cases, tc{"options/" + s.name, s.hcl, []string{optionSetModule(t, s.nix)}})
	}
	for _, s := range moduleExamples(t) {
		cases = append(cases, tc{"modules/" + s.name, s.hcl, []string{fileModule(t, s.nix), twinDefaults}})
	}
	for _, c := range cases {
		for _, viaFlake := range []bool{false, true} {
			name := c.name
			if viaFlake {
				name += "/flake"
			}
			t.Run(name, func(t *testing.T) {
				r, err := evalModule(t, viaFlake, c.modules...)
				if err != nil {
					t.Fatal(err)
				}
				if r.Document == nil {
					t.Fatal("the evaluation has no /etc/nspawnctl/nixos.hcl.json")
				}
				matchesTwin(t, c.twin, "the module's /etc/nspawnctl/nixos.hcl.json", []byte(*r.Document))
			})
		}
	}
}

// nixFiles lists the .nix files of dir, and fails if there are none.
func nixFiles(t *testing.T, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.nix"))
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		t.Fatalf("no .nix files in %s", dir)
	}
	return matches
}

// expectation reads the "# KEY: TEXT" first line of a test file.
func expectation(t *testing.T, file, key string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(src), "\n")
	want, ok := strings.CutPrefix(first, "# "+key+": ")
	if !ok {
		t.Fatalf("%s: the first line must be \"# %s: TEXT\"", file, key)
	}
	return want
}

// TestModuleRefusesInvalid: type errors, unknown options, failed assertions
// (the host's and a container's) and unknown networkd spellings stop the
// evaluation with a message that names the option.
func TestModuleRefusesInvalid(t *testing.T) {
	nixInstantiate(t)
	for _, m := range nixFiles(t, filepath.Join(modulesDir, "invalid")) {
		t.Run(strings.TrimSuffix(filepath.Base(m), ".nix"), func(t *testing.T) {
			want := expectation(t, m, "error")
			r, err := evalModule(t, false, fileModule(t, m))
			if err == nil {
				t.Fatalf("%s evaluated without an error (system %s)", m, r.Toplevel)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("the error does not contain %q:\n%v", want, err)
			}
		})
	}
}

// TestModuleBootOrder shows the unit graph NixOS gets: nspawnctl-apply runs
// before machines.target (waiting for network-online.target only when a
// root is bootstrapped or downloaded), and the autostarted machines are
// started by nspawnctl-autostart, after apply has written their drop-ins, so
// an autostarted container starts once, with them in place. The machines'
// own units are not ordered after apply (apply starts machines and waits for
// the job: that would deadlock), nor wanted by machines.target directly
// (that would start them beside apply).
func TestModuleBootOrder(t *testing.T) {
	nixInstantiate(t)
	r, err := evalModule(t, false, fileModule(t, filepath.Join(modulesDir, "readme.nix")))
	if err != nil {
		t.Fatal(err)
	}
	apply, ok := r.Units["nspawnctl-apply"]
	if !ok {
		t.Fatalf("no nspawnctl-apply service: %v", r.Units)
	}
	if !slices.Contains(apply.Before, "machines.target") || !slices.Contains(apply.WantedBy, "machines.target") {
		t.Errorf("nspawnctl-apply: before %v, wantedBy %v; want machines.target in both", apply.Before, apply.WantedBy)
	}
	if !slices.Contains(apply.After, "network-online.target") || !slices.Contains(apply.Wants, "network-online.target") {
		t.Errorf("db is bootstrapped, but nspawnctl-apply does not wait for network-online.target: wants %v, after %v", apply.Wants, apply.After)
	}
	auto, ok := r.Units["nspawnctl-autostart"]
	if !ok {
		t.Fatalf("no nspawnctl-autostart service: %v", r.Units)
	}
	if !slices.Contains(auto.After, "nspawnctl-apply.service") || !slices.Contains(auto.Wants, "nspawnctl-apply.service") ||
		!slices.Equal(auto.WantedBy, []string{"machines.target"}) || !slices.Contains(auto.Before, "machines.target") {
		t.Errorf("nspawnctl-autostart is not between nspawnctl-apply and machines.target: %+v", auto)
	}
	if auto.RestartIfChanged == nil || *auto.RestartIfChanged {
		t.Errorf("nspawnctl-autostart has restartIfChanged %v; a switch must not start stopped containers", auto.RestartIfChanged)
	}
	wantStart := regexp.MustCompile(`^/nix/store/\S+/bin/systemctl start --no-block systemd-nspawn@wiki\.service$`)
	if cmd := fmt.Sprint(auto.ServiceConfig["ExecStart"]); !wantStart.MatchString(cmd) {
		t.Errorf("nspawnctl-autostart runs %q, want %s (only the autostarted wiki)", cmd, wantStart)
	}
	for _, u := range []string{"wiki", "db"} {
		if n, ok := r.Units["systemd-nspawn@"+u]; ok {
			t.Errorf("systemd-nspawn@%s has a NixOS drop-in (%+v); it must not be ordered after apply nor wanted by machines.target", u, n)
		}
	}
	if w := r.Targets["machines"].Wants; len(w) != 0 {
		t.Errorf("machines.target wants %v directly", w)
	}
	if !slices.Contains(r.Targets["multi-user"].Wants, "machines.target") {
		t.Errorf("multi-user.target does not want machines.target: %v", r.Targets["multi-user"].Wants)
	}
	var doc struct {
		Defaults struct {
			UnitDir string `json:"unit_dir"`
		} `json:"defaults"`
	}
	if err := json.Unmarshal([]byte(*r.Document), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Defaults.UnitDir != "/run/systemd/system" {
		t.Errorf("unit_dir is %q, want /run/systemd/system (NixOS' /etc/systemd/system is read-only)", doc.Defaults.UnitDir)
	}

	// Without a root to fetch, apply does not delay the boot for the network.
	r, err = evalModule(t, false, optionSetModule(t, filepath.Join(testsDir, "nixos.nix")))
	if err != nil {
		t.Fatal(err)
	}
	if a := r.Units["nspawnctl-apply"]; slices.Contains(a.After, "network-online.target") {
		t.Errorf("no root is fetched, but nspawnctl-apply waits for network-online.target: %v", a.After)
	}
	if _, ok := r.Units["nspawnctl-autostart"]; !ok {
		t.Error("the autostarted wiki of tests/nixos.nix has no nspawnctl-autostart")
	}
	r, err = evalModule(t, false, optionSetModule(t, filepath.Join(testsDir, "bridge.nix")))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Units["nspawnctl-autostart"]; ok {
		t.Error("nothing is autostarted, but there is an nspawnctl-autostart unit")
	}

	// nixpkgs' allowedDevices go into the instance's drop-in.
	r, err = evalModule(t, false, `{ services.nspawnctl.enable = true; services.nspawnctl.machines.vpn = {
		root.directory = "/var/lib/machines/vpn";
		allowedDevices = [ { node = "/dev/fuse"; modifier = "rwm"; } ]; }; }`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.Units["systemd-nspawn@vpn"].ServiceConfig["DeviceAllow"]); got != "[/dev/fuse rwm]" {
		t.Errorf("DeviceAllow of systemd-nspawn@vpn is %s, want [/dev/fuse rwm]", got)
	}
}

// TestModuleContainerDefaults: a container's `config` is evaluated with
// nixpkgs' container profile (which sets useHostResolvConf = mkDefault true)
// and the module's base module, without a conflict, and with the values the
// container needs.
func TestModuleContainerDefaults(t *testing.T) {
	nixInstantiate(t)
	r, err := evalModule(t, false, fileModule(t, filepath.Join(modulesDir, "migration.nix")))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := r.Guests["webserver"]
	if !ok {
		t.Fatalf("no evaluated container: %+v", r.Guests)
	}
	if g.UseHostResolvConf || !g.Resolved || !g.UseNetworkd || !g.IsContainer || g.HostName != "webserver" {
		t.Errorf("container settings: %+v; want useHostResolvConf false, resolved, networkd, isContainer, hostName webserver", g)
	}
	if g.NixRemote == nil || *g.NixRemote != "daemon" {
		t.Errorf("NIX_REMOTE is %v, want daemon (mountDaemonSocket)", g.NixRemote)
	}
	if got := fmt.Sprint(g.Network["address"]); got != "[10.231.136.2/30]" {
		t.Errorf("the container's host0 network has address %s, want [10.231.136.2/30]", got)
	}
	if got := fmt.Sprint(g.Network["gateway"]); got != "[10.231.136.1]" {
		t.Errorf("the container's host0 network has gateway %s, want the host side [10.231.136.1]", got)
	}

	// python-nixos-nspawn's networkd spellings reach the container's own
	// network too (nspawnctl writes nothing into a NixOS root).
	r, err = evalModule(t, false, `{ services.nspawnctl.enable = true; services.nspawnctl.machines.py = {
		containerNetworkConfig = { Address = [ "10.50.0.2/28" ]; DNS = [ "10.50.0.1" ]; multicastDNS = true; IPv6AcceptRA = false; };
		hostNetworkConfig.Address = [ "10.50.0.1/28" ];
		config.system.stateVersion = "25.11"; }; }`)
	if err != nil {
		t.Fatal(err)
	}
	n := r.Guests["py"].Network
	nc, _ := n["networkConfig"].(map[string]any)
	if fmt.Sprint(n["address"], n["gateway"], n["dns"]) != "[10.50.0.2/28] [10.50.0.1] [10.50.0.1]" ||
		nc["MulticastDNS"] != true || nc["IPv6AcceptRA"] != false || nc["DHCP"] != "no" {
		t.Errorf("the container's host0 network does not follow containerNetworkConfig's networkd spellings: %v", n)
	}

	// A plain definition in the user's config still wins over the module's.
	r, err = evalModule(t, false, `{ services.nspawnctl.enable = true; services.nspawnctl.machines.c.config = {
		system.stateVersion = "25.11"; services.resolved.enable = false; networking.useHostResolvConf = true; }; }`)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Guests["c"].UseHostResolvConf {
		t.Error("the user's networking.useHostResolvConf = true did not take effect")
	}
}

// nspawnctlPackage builds nspawnctl from this tree into a directory laid out
// like its Nix package ($out/bin/nspawnctl) and returns a Nix expression for
// a package at that path.
func nspawnctlPackage(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "nspawnctl"), "./cmd/nspawnctl")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/nspawnctl: %v\n%s", err, out)
	}
	return dir, fmt.Sprintf(`{ services.nspawnctl.package = { type = "derivation"; name = "nspawnctl"; outPath = %s; }; }`, nixString(dir))
}

// runCheck runs the build command of the module's system.checks derivation
// as the builder would ($out set), with the generated configuration at the
// store path the command names.
func runCheck(t *testing.T, r *moduleEval) (string, error) {
	t.Helper()
	if len(r.Checks) != 1 || r.Checks[0].Name != "nspawnctl-validate" {
		t.Fatalf("system.checks is %+v, want one nspawnctl-validate derivation", r.Checks)
	}
	c := r.Checks[0]
	if !strings.Contains(c.BuildCommand, r.DocumentPath) {
		t.Fatalf("the check's command %q does not read the generated configuration %s", c.BuildCommand, r.DocumentPath)
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "nixos.hcl.json")
	var pretty bytes.Buffer // as formats.json's jq writes it
	if err := json.Indent(&pretty, []byte(*r.Document), "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(doc, pretty.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-ec", strings.ReplaceAll(c.BuildCommand, r.DocumentPath, doc))
	cmd.Env = []string{"out=" + filepath.Join(dir, "out"), "PATH=/usr/bin:/bin"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// TestModuleBuildCheck shows the build-time check as evaluated (a
// runCommand in system.checks that runs the package's nspawnctl validate on
// the generated file) and runs its command with nspawnctl built from this
// tree: it passes for the README example and refuses each value the module's
// types accept but nspawnctl does not.
func TestModuleBuildCheck(t *testing.T) {
	nixInstantiate(t)
	pkgDir, pkg := nspawnctlPackage(t)

	r, err := evalModule(t, false, fileModule(t, filepath.Join(modulesDir, "readme.nix")), pkg)
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^` + regexp.QuoteMeta(pkgDir+"/bin/nspawnctl") + ` validate --machine-id [0-9a-f]{32} ` + regexp.QuoteMeta(r.DocumentPath) + ` > \$out$`)
	if len(r.Checks) == 1 && !want.MatchString(r.Checks[0].BuildCommand) {
		t.Errorf("the check runs %q, want %s", r.Checks[0].BuildCommand, want)
	}
	if msg, err := runCheck(t, r); err != nil {
		t.Fatalf("the check fails on the README example: %v\n%s", err, msg)
	}

	off, err := evalModule(t, false, fileModule(t, filepath.Join(modulesDir, "readme.nix")), "{ services.nspawnctl.checkConfig = false; }")
	if err != nil {
		t.Fatal(err)
	}
	if len(off.Checks) != 0 {
		t.Errorf("checkConfig = false, but system.checks is %+v", off.Checks)
	}

	for _, m := range nixFiles(t, filepath.Join(modulesDir, "refused")) {
		t.Run(strings.TrimSuffix(filepath.Base(m), ".nix"), func(t *testing.T) {
			text := expectation(t, m, "refused")
			r, err := evalModule(t, false, fileModule(t, m), pkg)
			if err != nil {
				t.Fatalf("the module's types should accept %s: %v", m, err)
			}
			msg, err := runCheck(t, r)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 {
				t.Fatalf("the check's nspawnctl validate exited with %v (want 3, invalid configuration):\n%s", err, msg)
			}
			if !strings.Contains(msg, text) || !strings.Contains(msg, "nixos.hcl.json:") {
				t.Fatalf("the diagnostic does not name the file and %q:\n%s", text, msg)
			}
			t.Logf("nixos-rebuild build would stop with:\n%s", msg)
		})
	}
}

// nixBlock matches a fenced nix code block in Markdown.
var nixBlock = regexp.MustCompile("(?s)```nix\n(.*?)```")

// TestREADMEExamplesAreTested: every Nix example in README.md and
// nixos-module/README.md that uses services.nspawnctl is, verbatim, a file of
// tests/modules (so TestModuleMatchesHCL evaluates it and compares it with
// its twin), or the flake wrapper around one.
func TestREADMEExamplesAreTested(t *testing.T) {
	files := map[string]string{}
	matches, err := filepath.Glob(filepath.Join(modulesDir, "*.nix"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		src, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSpace(string(src))] = m
	}
	for _, readme := range []string{"../README.md", "README.md"} {
		src, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, b := range nixBlock.FindAllStringSubmatch(string(src), -1) {
			block := strings.TrimSpace(b[1])
			switch {
			case files[block] != "":
				found++
			case strings.HasPrefix(block, "# nixpkgs' containers module"):
				// The "before" of the migration section: not this module.
			case !strings.Contains(block, "services.nspawnctl"):
				// Flake inputs and wrappers, shell snippets: no options.
			default:
				t.Errorf("%s has a Nix example that is not a file of %s (copy it there with an HCL twin):\n%s", readme, modulesDir, block)
			}
		}
		if found == 0 {
			t.Errorf("%s shows no example from %s", readme, modulesDir)
		}
	}
}
