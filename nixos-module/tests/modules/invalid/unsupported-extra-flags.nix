# error: services.nspawnctl.machines.web.extraFlags: nspawnctl owns systemd-nspawn's command line
# A nixpkgs containers.<name> option without an nspawnctl equivalent says so.
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.web = {
    root.directory = "/var/lib/machines/web";
    extraFlags = [ "--private-users-ownership=chown" ];
  };
}
