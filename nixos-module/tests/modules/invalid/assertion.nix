# error: services.nspawnctl.machines.web: zone and hostNetworkConfig cannot be combined
{
  services.nspawnctl.enable = true;
  services.nspawnctl.zones.lab = { };
  services.nspawnctl.machines.web = {
    root.directory = "/var/lib/machines/web";
    zone = "lab";
    hostNetworkConfig.address = [ "10.0.0.1/28" ];
  };
}
