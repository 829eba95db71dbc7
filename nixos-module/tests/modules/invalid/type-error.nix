# error: hostPort' is not of type
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.web = {
    root.directory = "/var/lib/machines/web";
    forwardPorts = [ { hostPort = true; } ];
  };
}
