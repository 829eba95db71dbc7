# A stand-in for nixpkgs' nixos/lib/eval-config.nix, for containers' `config`.
#
# services.nspawnctl.machines.<name>.config imports
# "${nixpkgs}/nixos/lib/eval-config.nix" exactly as nixpkgs' containers
# module does; with `nixpkgs` pointing here (the test pkgs' path), the
# container's NixOS system is evaluated with the real module system, NixOS's
# options as ../../../nixos-options.nix declares them and nixpkgs' container
# profile (../../../container-config.nix), so that a definition in the
# nspawnctl module that conflicts with what nixpkgs sets inside every
# container fails here as it would in NixOS.
{
  modules,
  prefix ? [ ],
  specialArgs ? { },
  system ? null,
  ...
}:

let
  lib = import ../../../lib.nix;
  pkgs = import ../../../pkgs.nix { inherit lib; };
in
lib.evalModules {
  inherit prefix;
  specialArgs = { modulesPath = toString ../../../.; } // specialArgs;
  modules = [
    ../../../nixos-options.nix
    ../../../container-config.nix
    { _module.args = { inherit pkgs; }; }
  ] ++ modules;
}
