# What nixpkgs sets in every container (boot.isContainer), modelled on
# nixos/modules/virtualisation/container-config.nix (NixOS/nixpkgs, read at
# the version the search index holds, 2026; see ../../README.md), restricted
# to the options nixos-options.nix declares. The priorities are nixpkgs':
# useHostResolvConf is a mkDefault, so a second mkDefault with another value
# in a module the container imports is a conflict.
{ config, lib, ... }:
{
  config = lib.mkIf config.boot.isContainer {
    networking.useHostResolvConf = lib.mkDefault true;
    services.openssh.startWhenNeeded = lib.mkDefault true;
    environment.variables.NIX_REMOTE = "daemon";
    documentation.nixos.enable = lib.mkDefault false;
    powerManagement.enable = lib.mkDefault false;
    security.audit.enable = false;
    services.udev.enable = false;
  };
}
