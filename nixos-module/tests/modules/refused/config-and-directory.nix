# refused: Conflicting root sources
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.wiki = {
    root.directory = "/srv/wiki-root";
    config.system.stateVersion = "25.11";
  };
}
