# refused: Invalid host port
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.web = {
    root.directory = "/var/lib/machines/web";
    forwardPorts = [ { hostPort = "x"; } ];
  };
}
