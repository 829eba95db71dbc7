# examples/zone.hcl as services.nspawnctl options: two machines on one zone.
# The zone uses python-nixos-nspawn's multicastDNS spelling.
let
  debian = packages: { root.bootstrap = { suite = "bookworm"; inherit packages; }; };
in
{
  zones.backend = {
    llmnr = true;
    multicastDNS = false;
  };

  machines.app = debian [ "python3" "python3-psycopg2" ] // {
    zone = "backend";
    forwardPorts = [ { hostPort = 8080; } ];
  };

  machines.db = debian [ "postgresql" ] // {
    zone = "backend";
  };
}
