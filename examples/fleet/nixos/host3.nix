# examples/fleet/nixos/host3.nix: host 3 (198.51.100.146) runs one member
# behind a host firewall that drops unsolicited input: the member's forward
# is what lets peers in. Twin of ../host3.hcl.
{ ... }:
let
  net = import ./network.nix;
in
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines = {
    web-3 = net.member { host = "host3"; address = "198.51.100.23"; groups = [ "web" ]; listenPort = 4243; };
  };
}
