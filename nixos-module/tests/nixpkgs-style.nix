# A container written with nixpkgs' containers.<name> option names, which
# translate.nix also accepts: path (a built system), bindMounts as an
# attribute set (read-only unless isReadOnly = false), additionalCapabilities,
# autoStart, timeoutStartSec, macvlans and a numeric privateUsers.
# nixpkgs-style.hcl is the same machine in nspawnctl's own names.
{
  machines.legacy = {
    path = "/nix/store/0v3ma2x3ip6ylbrmfd1vg8k6m8gzzc8a-nixos-system-legacy-25.11";
    bindMounts = {
      "/var/lib/data" = { hostPath = "/srv/data"; isReadOnly = false; };
      "/etc/secrets" = { };
      "/opt/tools" = { mountPoint = "/tools"; hostPath = "/opt/tools"; isReadOnly = true; };
    };
    additionalCapabilities = [ "CAP_NET_ADMIN" ];
    autoStart = true;
    timeoutStartSec = "1min";
    privateUsers = 524288;
    macvlans = [ "eth0" ];
    containerNetworkConfig.dhcp = true;
  };
}
