# error: The option `services.nspawnctl.machines.web.forwardPort' does not exist.
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.web = {
    root.directory = "/var/lib/machines/web";
    forwardPort = [ { hostPort = 8080; } ];
  };
}
