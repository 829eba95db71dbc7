# nspawnctl's flake: the package and the NixOS module.
#
#   inputs.nspawnctl.url = "github:nspawnctl/nspawnctl";
#   nixosConfigurations.host = nixpkgs.lib.nixosSystem {
#     modules = [ nspawnctl.nixosModules.default { services.nspawnctl.enable = true; } ];
#   };
#
# No flake.lock is committed; `nix flake lock` creates one (pinning nixpkgs)
# and the first `nix build` or `nix flake check` does so automatically.
{
  description = "nspawnctl: declarative systemd-nspawn containers (CLI and NixOS module)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      version = if self ? shortRev then "0-git-${self.shortRev}" else "0-dirty";

      # go.mod says go 1.26: use the matching builder when nixpkgs has it.
      build = pkgs: pkgs.callPackage ./nixos-module/package.nix {
        buildGoModule = pkgs.buildGo126Module or pkgs.buildGoModule;
        inherit version;
      };
    in
    {
      packages = forAllSystems (pkgs: {
        nspawnctl = build pkgs;
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.nspawnctl;
      });

      # The module defaults services.nspawnctl.package to this flake's build,
      # not to a package of the host's nixpkgs.
      nixosModules.nspawnctl =
        { lib, pkgs, ... }:
        {
          imports = [ ./nixos-module/module.nix ];
          services.nspawnctl.package = lib.mkDefault (build pkgs);
        };
      nixosModules.default = self.nixosModules.nspawnctl;

      # The translation of options to nspawnctl's JSON configuration, pure
      # (builtins only): usable without NixOS, e.g. to generate
      # configurations for Debian hosts.
      lib.toConfig = import ./nixos-module/translate.nix;

      overlays.default = final: _prev: { nspawnctl = build final; };

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        # The module evaluates with a NixOS container in it (no VM needed).
        module-eval =
          (nixpkgs.lib.nixosSystem {
            inherit (pkgs.stdenv.hostPlatform) system;
            modules = [
              self.nixosModules.default
              {
                boot.isContainer = true;
                system.stateVersion = "25.11";
                services.nspawnctl.enable = true;
                services.nspawnctl.machines.wiki = {
                  autoStart = true;
                  forwardPorts = [ { hostPort = 8080; containerPort = 80; } ];
                  config = { system.stateVersion = "25.11"; services.nginx.enable = true; };
                };
              }
            ];
          }).config.system.build.toplevel;
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
