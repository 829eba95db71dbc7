# A container written with python-nixos-nspawn's option names (its
# nixos.containers.instances.<name>), which translate.nix also accepts:
# networkd-style hostNetworkConfig with ipv6Prefixes { Prefix; Assign; } and
# networkConfig, activation = { strategy; autoStart; }, timeoutStartSec,
# userNamespacing, a string systemCallFilter and a bindMounts list.
# python-style.hcl is the same machine in nspawnctl's own names.
{
  machines.web = {
    root.directory = "/var/lib/machines/web";
    bindMounts = [ "/srv/web:/var/www" ];
    timeoutStartSec = "2min";
    userNamespacing = true;
    systemCallFilter = "@system-service";
    activation = {
      strategy = "dynamic";
      autoStart = true;
    };
    hostNetworkConfig = {
      ipv6Prefixes = [ { Prefix = "fd42:17:3:1::/64"; Assign = true; } ];
      networkConfig.IPv6SendRA = "yes";
      ula = false;
    };
    containerNetworkConfig = {
      Address = [ "fd42:17:3:1::2/64" ];
      multicastDNS = true;
    };
    forwardPorts = [
      { containerPort = null; hostPort = 8443; protocol = "tcp"; }
    ];
  };
}
