# nspawnctl's twin of the nixpkgs definition in nixos-module/README.md
# ("Migrating from containers.<name>"): the same option names, under
# services.nspawnctl.machines.
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.webserver = {
    autoStart = true;
    privateNetwork = true;
    hostAddress = "10.231.136.1";
    localAddress = "10.231.136.2";
    forwardPorts = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];
    bindMounts."/var/www" = { hostPath = "/srv/www"; isReadOnly = true; };
    tmpfs = [ "/var/cache/nginx" ];
    enableTun = true;
    # python-nixos-nspawn's option: `nix` inside uses the host's daemon.
    mountDaemonSocket = true;
    timeoutStartSec = "2min";
    config = { pkgs, ... }: {
      system.stateVersion = "25.11";
      services.nginx.enable = true;
      networking.firewall.allowedTCPPorts = [ 80 ];
    };
  };
}
