# An option set shaped like the evaluated NixOS module hands it to
# translate.nix: every option present, unset ones null, lists and attribute
# sets empty, submodules carrying _module, a disabled machine and module-only
# options (config, nixpkgs, specialArgs). Only what was set may reach the
# JSON: its twin module-shaped.hcl is a two-line machine.
let
  mod = { _module = { args = { }; }; };
  nullMachine = mod // {
    enable = true;
    nixpkgs = "/nonexistent/nixpkgs";
    specialArgs = { };
    path = null;
    root = null;
    boot = null;
    command = null;
    ephemeral = null;
    privateUsers = null;
    bind = [ ];
    bindReadOnly = [ ];
    bindMounts = null;
    environment = { };
    capabilities = [ ];
    dropCapabilities = [ ];
    systemCallFilter = [ ];
    limits = null;
    autoStart = null;
    timeoutStart = null;
    timeoutStop = null;
    activation = null;
    networkMode = null;
    zone = null;
    bridge = null;
    macvlan = [ ];
    ipvlan = [ ];
    hostNetworkConfig = null;
    containerNetworkConfig = null;
    forwardPorts = [ ];
    nebula = null;
    extraConfig = { };
  };
in
{
  machines.web = nullMachine // {
    root = mod // {
      directory = null;
      image = null;
      tarball = null;
      nixosSystem = null;
      bootstrap = mod // { suite = "bookworm"; mirror = null; variant = null; packages = [ ]; };
    };
    hostNetworkConfig = mod // {
      address = [ ];
      pool = null;
      ipv6Prefixes = [ ];
      ula = null;
      masquerade = "ipv4";
      dhcpServer = null;
      prefixDelegation = null;
      proxyNdp = [ ];
      extra = { };
      networkConfig = { };
    };
    forwardPorts = [
      (mod // { protocol = null; hostPort = 8181; containerPort = 80; hostAddress = null; allowFrom = [ ]; })
    ];
  };
  machines.old = nullMachine // { enable = false; root = mod // { directory = "/nonexistent"; }; };
  zones = { };
  bridges = { };
  defaults = mod // {
    stateDir = null;
    machinesDir = null;
    ipv4Pool = null;
    zoneIpv4Pool = null;
    ulaPrefix = null;
    nebulaPool = null;
  };
}
