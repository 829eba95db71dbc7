{ pkgs, ... }:
{
  services.nspawnctl.enable = true;

  # A NixOS container: its system is evaluated with the host's nixpkgs and
  # booted from the host's /nix/store.
  services.nspawnctl.machines.wiki = {
    autoStart = true;
    forwardPorts = [ { hostPort = 8080; containerPort = 80; } ];
    bind = [ "/srv/wiki:/var/lib/wiki" ];
    limits.memoryMax = "1G";
    config = { pkgs, ... }: {
      system.stateVersion = "25.11";
      services.nginx.enable = true;
      networking.firewall.allowedTCPPorts = [ 80 ];
    };
  };

  # A Debian container, bootstrapped on the first apply.
  services.nspawnctl.machines.db = {
    root.bootstrap = { suite = "bookworm"; packages = [ "postgresql" ]; };
    zone = "backend";
  };
  services.nspawnctl.zones.backend = { };
}
