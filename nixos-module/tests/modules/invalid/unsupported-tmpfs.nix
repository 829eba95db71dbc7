# error: services.nspawnctl.machines.web.tmpfs: nspawnctl has no tmpfs setting yet
# A nixpkgs containers.<name> option without an nspawnctl equivalent says so.
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.web = {
    root.directory = "/var/lib/machines/web";
    tmpfs = [ "/var" ];
  };
}
