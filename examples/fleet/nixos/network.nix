# examples/fleet/nixos/network.nix: the "fleet" overlay, declared once for
# every host (the NixOS twin of examples/fleet/host*.hcl; see ../README.md).
# Plain Nix, no module: each hostN.nix imports it and builds its machines
# with `lighthouse` and `member`. A change here (CA, lighthouse, rules,
# relays) reaches every host at its next deployment.
rec {
  # Each host's public (underlay) address: where the other hosts reach the
  # machines it runs, at their forwarded listen ports.
  hosts = {
    host1 = "203.0.113.2";
    host2 = "198.51.100.130";
    host3 = "198.51.100.146";
  };

  # The lighthouse runs on host 1 and is also the relay.
  lighthouseAddress = "198.51.100.1";
  lighthousePort = 4242;

  # Settings every machine of the overlay shares: the CA (ca.key copied to
  # every host, 0600, root's) and the firewall: ICMP from anyone, TCP 80
  # only from group `client`.
  common = {
    network = "fleet";
    ca = "/etc/nspawnctl/nebula-ca/ca.crt";
    caKey = "/etc/nspawnctl/nebula-ca/ca.key";
    inbound = [
      { proto = "icmp"; host = "any"; }
      { port = "80"; proto = "tcp"; group = "client"; }
    ];
  };

  # A container of the fleet, with its nebula block.
  machine = nebula: {
    root.tarball = "/srv/images/web.tar";
    autoStart = true;
    inherit nebula;
  };

  # The lighthouse (and relay), reached by every host at host 1's address;
  # nspawnctl forwards its listen port from the host.
  lighthouse = { groups }: machine (common // {
    address = "${lighthouseAddress}/25";
    inherit groups;
    amLighthouse = true;
    amRelay = true;
    listenPort = lighthousePort;
    advertiseAddrs = [ hosts.host1 ];
  });

  # A member on `host`: a fixed listen port, forwarded from that host by
  # nspawnctl and advertised at its address, so peers on every host reach it
  # there; the lighthouse relays when the direct path is blocked.
  member = { host, address, groups, listenPort }: machine (common // {
    address = "${address}/25";
    inherit groups listenPort;
    lighthouses = [ lighthouseAddress ];
    staticHostMap.${lighthouseAddress} = [ "${hosts.host1}:${toString lighthousePort}" ];
    relays = [ lighthouseAddress ];
    advertiseAddrs = [ hosts.${host} ];
  });
}
