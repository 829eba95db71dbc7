# examples/nebula.hcl as services.nspawnctl options: a lighthouse and a
# machine that joins the overlay through it.
let
  ca = {
    network = "corp";
    ca = "/etc/nspawnctl/nebula-ca/ca.crt";
    caKey = "/etc/nspawnctl/nebula-ca/ca.key";
  };
in
{
  machines.lighthouse = {
    root.bootstrap.suite = "bookworm";
    nebula = ca // {
      address = "10.42.0.1/24";
      groups = [ "infra" ];
      amLighthouse = true;
      listenPort = 4242;
      inbound = [ { proto = "icmp"; host = "any"; } ];
      outbound = [ { host = "any"; } ];
    };
    forwardPorts = [ { protocol = "udp"; hostPort = 4242; } ];
  };

  machines.api = {
    root.bootstrap = { suite = "bookworm"; packages = [ "nginx-light" ]; };
    nebula = ca // {
      address = "10.42.0.10/24";
      groups = [ "web" "prod" ];
      lighthouses = [ "10.42.0.1" ];
      staticHostMap."10.42.0.1" = [ "203.0.113.7:4242" ];
      punchy = true;
      mtu = 1300;
      inbound = [
        { port = 443; proto = "tcp"; groups = [ "ops" "prod" ]; }
        { proto = "icmp"; host = "any"; }
        { port = "9100"; proto = "tcp"; cidr = "10.42.100.0/24"; }
      ];
      outbound = [ { host = "any"; } ];
    };
  };
}
