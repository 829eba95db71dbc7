machine "web" {
  nebula {
    network = "mesh"
    ca      = "/etc/nebula/ca.crt"
    ca_key  = "/etc/nebula/ca.key"
    address = "10.42.0.5/24"
    inbound {
      proto = "gre" # ERROR: Invalid rule protocol
      host  = "any"
    }
    inbound {
      port  = "70000" # ERROR: Invalid rule port
      group = "web"
    }
    inbound { # ERROR: Rule matches nobody
      port  = "443"
      proto = "tcp"
    }
    outbound {
      cidr = "10.42.0.0" # ERROR: Invalid rule CIDR
    }
    outbound {
      host       = "any"
      local_cidr = "10.42.0.1/24" # ERROR: host bits set
    }
    outbound {
      port = "any"
      host = "any"
    }
  }
}
