# Evaluates services.nspawnctl with nixpkgs' real module system, as a NixOS
# host would: NixOS's options (nixos-options.nix), the test's stand-in pkgs,
# the nspawnctl module (module.nix, or the flake's nixosModules.default), and
# the test's own modules. nixos_test.go calls it with nix-instantiate and
# reads the result as JSON:
#
#   document  the generated /etc/nspawnctl/nixos.hcl.json (text)
#   units     the nspawnctl units and systemd-nspawn@ instances: the unit graph
#   targets   machines.target and multi-user.target
#   checks    system.checks: name, command and inputs of each derivation
#   guests    per NixOS container, what its evaluated system sets
#   toplevel  system.build.toplevel, which reports failed assertions
{
  modules,
  viaFlake ? false,
}:

let
  lib = import ./lib.nix;
  pkgs = import ./pkgs.nix { inherit lib; };

  # The flake's outputs, with this harness's lib and pkgs as its nixpkgs input.
  flake = (import ../../../flake.nix).outputs {
    self = flake;
    nixpkgs = {
      inherit lib;
      legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: pkgs);
    };
  };
  nspawnctl = if viaFlake then flake.nixosModules.default else ../../module.nix;

  eval = lib.evalModules {
    modules = [
      ./nixos-options.nix
      nspawnctl
      { _module.args = { inherit pkgs; }; }
    ] ++ modules;
  };
  cfg = eval.config;

  unitGraph = u: {
    inherit (u) wantedBy requiredBy wants requires after before partOf bindsTo overrideStrategy unitConfig;
    serviceConfig = u.serviceConfig or { };
    restartIfChanged = u.restartIfChanged or null;
    description = u.description or "";
    path = map toString (u.path or [ ]);
    restartTriggers = map toString (u.restartTriggers or [ ]);
  };
  ours = n: lib.hasPrefix "nspawnctl-" n || lib.hasPrefix "systemd-nspawn@" n;

  derivationInfo = d: {
    inherit (d) name;
    path = d.outPath; # not outPath: toJSON would print the set as that string
    buildCommand = d.buildCommand or null;
    nativeBuildInputs = map toString (d.nativeBuildInputs or [ ]);
  };
in
{
  document = cfg.environment.etc."nspawnctl/nixos.hcl.json".source.text or null;
  documentPath = toString (cfg.environment.etc."nspawnctl/nixos.hcl.json".source or "");
  units = lib.mapAttrs (_: unitGraph) (lib.filterAttrs (n: _: ours n) cfg.systemd.services);
  targets = lib.mapAttrs (_: t: { inherit (t) wants after before; }) (lib.filterAttrs (n: _: n == "machines" || n == "multi-user") cfg.systemd.targets);
  checks = map derivationInfo cfg.system.checks;
  guests = lib.mapAttrs
    (_: m: {
      inherit (m.config.networking) hostName useHostResolvConf useNetworkd useDHCP;
      inherit (m.config.boot) isContainer isNspawnContainer;
      resolved = m.config.services.resolved.enable;
      nixRemote = m.config.environment.variables.NIX_REMOTE or null;
      network = removeAttrs m.config.systemd.network.networks."20-nspawnctl-host0" [ "_module" ];
      toplevel = toString m.config.system.build.toplevel;
    })
    # Machines whose root is an evaluated NixOS system (from `config`).
    (lib.filterAttrs (_: m: m.root != null && builtins.isAttrs m.root.nixosSystem) cfg.services.nspawnctl.machines);
  sysctl = cfg.boot.kernel.sysctl;
  trustedInterfaces = cfg.networking.firewall.trustedInterfaces;
  toplevel = toString cfg.system.build.toplevel;
}
