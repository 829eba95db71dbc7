# error: Using host resolv.conf is not supported with systemd-resolved
# The container's config is a NixOS evaluation of its own, with nixpkgs'
# container profile and assertions: asking for the host's resolv.conf next
# to the resolved that the module turns on fails as it would in NixOS.
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.wiki.config = {
    system.stateVersion = "25.11";
    networking.useHostResolvConf = true;
  };
}
