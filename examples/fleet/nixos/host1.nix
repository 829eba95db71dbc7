# examples/fleet/nixos/host1.nix: host 1 (203.0.113.2) runs the lighthouse,
# which is also a relay, and one member beside it. Twin of ../host1.hcl.
{ ... }:
let
  net = import ./network.nix;
in
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines = {
    lighthouse = net.lighthouse { groups = [ "infra" ]; };
    app-1 = net.member { host = "host1"; address = "198.51.100.11"; groups = [ "client" ]; listenPort = 4243; };
  };
}
