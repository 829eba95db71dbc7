package nixosmodule

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// examples/fleet/nixos declares the overlay of examples/fleet once
// (network.nix) and each host's containers in hostN.nix; flake.nix wires
// them for nixos-rebuild --target-host, colmena and deploy-rs.
const fleetDir = "../examples/fleet"

// fleetFlake is a Nix expression for the outputs of examples/fleet/nixos/flake.nix
// with stand-in inputs: nixosSystem returns its arguments, and the nspawnctl
// input's module is a marker (the harness adds the real module itself).
func fleetFlake(t *testing.T) string {
	return fmt.Sprintf(`let
  marker = { _file = "nspawnctl-flake-input"; };
  flake = (import (/. + %s)).outputs {
    self = flake;
    nixpkgs = { lib.nixosSystem = args: args; };
    nspawnctl = { nixosModules.default = marker; };
    deploy-rs = { };
  };
in { inherit marker flake; }`, nixString(abs(t, filepath.Join(fleetDir, "nixos", "flake.nix"))))
}

// fleetHostModule is a NixOS module that imports what the fleet's flake gives
// nixosSystem for host, without the nspawnctl input's marker (failing the
// evaluation if the flake does not import the nspawnctl module at all).
func fleetHostModule(t *testing.T, host string) string {
	return fmt.Sprintf(`let f = %s; ms = f.flake.nixosConfigurations.%s.modules; in
assert builtins.elem f.marker ms; { imports = builtins.filter (m: m != f.marker) ms; }`, fleetFlake(t), host)
}

// fleetHosts are the hosts the flake deploys, each with its public address
// (colmena's targetHost and deploy-rs' hostname) and whether colmena's node
// imports the same modules as nixosConfigurations.
type fleetHost struct {
	TargetHost string `json:"targetHost"`
	Hostname   string `json:"hostname"`
	SameImport bool   `json:"sameImports"`
}

// TestFleetMatchesHCL evaluates every host of examples/fleet/nixos, as its
// flake wires it, with the real module system, runs the build-time check
// (nspawnctl validate, built from this tree) on the generated
// /etc/nspawnctl/nixos.hcl.json, and renders it against examples/fleet/hostN.hcl:
// every artefact (the .nspawn and networkd files, the nebula config, unit
// drop-ins, forwards) must be byte-identical, so network.nix and the HCL
// fleet cannot drift apart.
func TestFleetMatchesHCL(t *testing.T) {
	nixInstantiate(t)
	requireVendorLib(t)
	out, err := runNix(t, "--eval", "--strict", "--json", "-E", fmt.Sprintf(`let f = (%s).flake; in
builtins.mapAttrs (n: c: { targetHost = c.deployment.targetHost; hostname = f.deploy.nodes.${n}.hostname;
  sameImports = c.imports == f.nixosConfigurations.${n}.modules; }) (removeAttrs f.colmena [ "meta" ])`, fleetFlake(t)))
	if err != nil {
		t.Fatal(err)
	}
	var hosts map[string]fleetHost
	if err := json.Unmarshal(out, &hosts); err != nil {
		t.Fatalf("the fleet's hosts: %s: %v", out, err)
	}

	// Every HCL host file has a NixOS host, and the other way round.
	hclFiles, err := filepath.Glob(filepath.Join(fleetDir, "host*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	var hclHosts, nixHosts []string
	for _, f := range hclFiles {
		hclHosts = append(hclHosts, strings.TrimSuffix(filepath.Base(f), ".hcl"))
	}
	for h := range hosts {
		nixHosts = append(nixHosts, h)
	}
	slices.Sort(nixHosts)
	if len(hclHosts) == 0 || !slices.Equal(hclHosts, nixHosts) {
		t.Fatalf("the HCL fleet has hosts %v, the flake %v", hclHosts, nixHosts)
	}

	_, pkg := nspawnctlPackage(t)
	for _, host := range nixHosts {
		t.Run(host, func(t *testing.T) {
			h := hosts[host]
			if h.TargetHost == "" || h.Hostname != h.TargetHost || !h.SameImport {
				t.Errorf("colmena and deploy-rs do not deploy %s as nixosConfigurations.%s: %+v", host, host, h)
			}
			if want := fleetAddress(t, host); h.TargetHost != want {
				t.Errorf("%s is deployed to %s, but its HCL file says it is %s", host, h.TargetHost, want)
			}
			// The module as module.nix, and as the repository's flake gives it.
			for _, viaFlake := range []bool{false, true} {
				r, err := evalModule(t, viaFlake, fleetHostModule(t, host), twinDefaults, pkg)
				if err != nil {
					t.Fatal(err)
				}
				if r.Document == nil {
					t.Fatal("the evaluation has no /etc/nspawnctl/nixos.hcl.json")
				}
				if msg, err := runCheck(t, r); err != nil {
					t.Fatalf("nspawnctl validate refuses %s's generated configuration: %v\n%s", host, err, msg)
				}
				matchesTwin(t, filepath.Join(fleetDir, host+".hcl"), "examples/fleet/nixos/"+host+".nix", []byte(*r.Document))
			}
		})
	}
}

// fleetAddress reads "Host N (public address A)" from the head comment of
// examples/fleet/HOST.hcl.
func fleetAddress(t *testing.T, host string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(fleetDir, host+".hcl"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "(public address ")
	addr, _, ok2 := strings.Cut(rest, ")")
	if !ok || !ok2 {
		t.Fatalf("%s.hcl does not say \"(public address A)\" in its head comment", host)
	}
	return addr
}
