# refused: Invalid memory limit
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.web = {
    root.directory = "/var/lib/machines/web";
    limits.memoryMax = "lots";
  };
}
