# examples/forwards.hcl as services.nspawnctl options: every kind of port
# forward (ports as numbers or strings, ranges, host addresses, allowFrom).
{
  machines.gateway = {
    root.bootstrap = {
      suite = "bookworm";
      packages = [ "haproxy" "wireguard-tools" ];
    };
    forwardPorts = [
      { hostPort = 443; }
      { hostAddress = "192.0.2.10"; hostPort = 80; containerPort = 8080; }
      { hostAddress = "2001:db8::10"; hostPort = 80; containerPort = 8080; }
      { hostPort = "30000-30009"; }
      { hostPort = "9000-9009"; containerPort = "10000-10009"; }
      { protocol = "udp"; hostPort = 51820; }
      { hostPort = 2222; containerPort = 22; allowFrom = [ "198.51.100.0/24" "2001:db8:ad::/48" ]; }
    ];
  };
}
