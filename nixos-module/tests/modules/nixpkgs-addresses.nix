# nixpkgs' hostAddress/localAddress spellings: plain addresses (the module
# gives both ends the longest prefix that holds them), IPv6 ones, an address
# with a prefix length (kept), one end alone (/30), hostBridge and
# privateNetwork = false (the host's network). nixpkgs-addresses.hcl is the
# same in nspawnctl's names.
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.pair = {
    root.directory = "/var/lib/machines/pair";
    hostAddress = "10.231.136.9";
    localAddress = "10.231.136.10";
    hostAddress6 = "fc00::1";
    localAddress6 = "fc00::2";
  };
  services.nspawnctl.machines.lan = {
    root.directory = "/var/lib/machines/lan";
    hostAddress = "10.232.0.1";
    localAddress = "10.232.0.2/24";
  };
  services.nspawnctl.machines.alone = {
    root.directory = "/var/lib/machines/alone";
    hostAddress = "10.233.0.1";
  };
  services.nspawnctl.machines.bridged = {
    root.directory = "/var/lib/machines/bridged";
    hostBridge = "br0";
  };
  services.nspawnctl.machines.edge = {
    root.directory = "/var/lib/machines/edge";
    hostAddress = "10.234.0.10";
    localAddress = "10.234.0.11";
  };
  services.nspawnctl.bridges.br0 = { };
  services.nspawnctl.machines.shared = {
    root.directory = "/var/lib/machines/shared";
    privateNetwork = false;
  };
}
