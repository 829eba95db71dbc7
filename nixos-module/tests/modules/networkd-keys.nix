# python-nixos-nspawn passes hostNetworkConfig and containerNetworkConfig
# through to systemd.network.networks: sections (networkConfig, linkConfig,
# dhcpServerConfig), networkd's capitalised names (Address, DNS, ...) and
# free-form [Network] keys. networkd-keys.hcl is the same in nspawnctl's
# names.
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines.edge = {
    root.directory = "/var/lib/machines/edge";
    hostNetworkConfig = {
      Address = [ "10.40.0.1/28" "fd00:40::1/64" ];
      IPv6SendRA = true;
      linkConfig.MTUBytes = "1400";
      dhcpServerConfig.PoolOffset = 4;
      proxyNDP = [ "eth0" ];
      ipv6Prefixes = [ { ipv6PrefixConfig = { Prefix = "fd00:40::/64"; Assign = "yes"; }; } ];
    };
    containerNetworkConfig = {
      Address = [ "10.40.0.2/28" "2001:db8:40::2/128" ];
      Gateway = [ "10.40.0.1" ];
      DNS = [ "10.40.0.1" ];
      multicastDNS = true;
      networkConfig.IPv6AcceptRA = true;
      Domains = "example.test";
    };
  };
  services.nspawnctl.zones.lab = {
    Address = [ "10.41.0.1/24" ];
    multicastDns = true;
    networkConfig.IPv6SendRA = true;
  };
}
