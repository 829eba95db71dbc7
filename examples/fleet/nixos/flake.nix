# examples/fleet/nixos/flake.nix: the three hosts of ../README.md as one
# flake, for nixos-rebuild --target-host, colmena and deploy-rs. Each host's
# configuration is the nspawnctl module plus hostN.nix (which imports
# network.nix); add your hosts' hardware-configuration.nix and the rest of
# their system to `modules`.
#
#   nixos-rebuild switch --flake .#host2 --target-host root@198.51.100.130
#   colmena apply                 # every host, from outputs.colmena
#   deploy .#host3                # deploy-rs, from outputs.deploy
{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  inputs.nspawnctl.url = "github:nspawnctl/nspawnctl";
  inputs.nspawnctl.inputs.nixpkgs.follows = "nixpkgs";
  inputs.deploy-rs.url = "github:serokell/deploy-rs";

  outputs = { self, nixpkgs, nspawnctl, deploy-rs, ... }:
    let
      net = import ./network.nix;
      system = "x86_64-linux";
      modules = name: [ nspawnctl.nixosModules.default (./. + "/${name}.nix") ];
      names = builtins.attrNames net.hosts;
      forHosts = f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
    in
    {
      nixosConfigurations = forHosts (name: nixpkgs.lib.nixosSystem { inherit system; modules = modules name; });

      colmena = {
        meta.nixpkgs = import nixpkgs { inherit system; };
      } // forHosts (name: {
        deployment.targetHost = net.hosts.${name};
        imports = modules name;
      });

      deploy.nodes = forHosts (name: {
        hostname = net.hosts.${name};
        profiles.system = {
          user = "root";
          path = deploy-rs.lib.${system}.activate.nixos self.nixosConfigurations.${name};
        };
      });
    };
}
