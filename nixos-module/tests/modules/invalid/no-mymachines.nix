# error: services.nspawnctl: add "mymachines" to system.nssDatabases.hosts
{ lib, ... }:
{
  services.nspawnctl.enable = true;
  system.nssDatabases.hosts = lib.mkForce [ "files" "dns" ];
}
