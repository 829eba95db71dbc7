# error: machines.web.network.host: unknown option(s) adress
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.web = {
    root.directory = "/var/lib/machines/web";
    hostNetworkConfig.adress = [ "10.0.0.1/28" ];
  };
}
