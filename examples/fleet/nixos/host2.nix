# examples/fleet/nixos/host2.nix: host 2 (198.51.100.130) runs two members,
# both reached at the host's address, each on its own forwarded port.
# Twin of ../host2.hcl.
{ ... }:
let
  net = import ./network.nix;
in
{
  services.nspawnctl.enable = true;
  services.nspawnctl.machines = {
    app-2 = net.member { host = "host2"; address = "198.51.100.12"; groups = [ "client" ]; listenPort = 4243; };
    web-2 = net.member { host = "host2"; address = "198.51.100.22"; groups = [ "web" ]; listenPort = 4244; };
  };
}
