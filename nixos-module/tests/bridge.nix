# examples/bridge.hcl as services.nspawnctl options: a declared bridge with an
# uplink, one machine on DHCP and one static.
{
  bridges.br-lan = {
    uplink = "eth1";
    dhcp = true;
  };

  machines.printer = {
    root.bootstrap = { suite = "bookworm"; packages = [ "cups" ]; };
    bridge = "br-lan";
    containerNetworkConfig.dhcp = "yes";
  };

  machines.files = {
    root.bootstrap = { suite = "bookworm"; packages = [ "samba" ]; };
    bridge = "br-lan";
    containerNetworkConfig = {
      address = [ "192.168.10.20/24" ];
      gateway = [ "192.168.10.1" ];
      dns = [ "192.168.10.1" ];
      dhcp = false;
    };
  };
}
