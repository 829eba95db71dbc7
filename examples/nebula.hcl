# A Nebula mesh sidecar: each machine runs nebula in its own network namespace
# (nspawnctl-nebula@NAME.service, wanted by the machine's unit) and joins the
# overlay "corp" shared with machines on other hosts. nspawnctl signs each
# machine's certificate with the CA key, putting its overlay address and
# groups into it; certificates and keys live under /etc/nspawnctl/nebula/NAME/.
#
# The lighthouse must be reachable from the other hosts on its UDP port, so
# the host forwards UDP 4242 to it. This host's public address is 203.0.113.7.
machine "lighthouse" {
  root {
    bootstrap {
      suite = "bookworm"
    }
  }

  nebula {
    network = "corp"
    ca      = "/etc/nspawnctl/nebula-ca/ca.crt"
    ca_key  = "/etc/nspawnctl/nebula-ca/ca.key"
    address = "10.42.0.1/24"
    groups  = ["infra"]

    am_lighthouse = true
    listen_port   = 4242

    # Anyone on the overlay may ask the lighthouse; it accepts ICMP only.
    inbound {
      proto = "icmp"
      host  = "any"
    }
    outbound {
      host = "any"
    }
  }

  forward_port {
    protocol  = "udp"
    host_port = 4242
  }
}

machine "api" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["nginx-light"]
    }
  }

  nebula {
    network = "corp"
    ca      = "/etc/nspawnctl/nebula-ca/ca.crt"
    ca_key  = "/etc/nspawnctl/nebula-ca/ca.key"
    address = "10.42.0.10/24"
    groups  = ["web", "prod"]

    lighthouses = ["10.42.0.1"]
    # Where the lighthouse is on the underlay: this host's public address.
    static_host_map = {
      "10.42.0.1" = ["203.0.113.7:4242"]
    }

    # Through NAT: keep mappings open and let peers punch back.
    punchy = true
    mtu    = 1300

    # HTTPS from members of both "ops" and "prod"; ICMP from anyone; and
    # metrics only from the monitoring network.
    inbound {
      port   = "443"
      proto  = "tcp"
      groups = ["ops", "prod"]
    }
    inbound {
      proto = "icmp"
      host  = "any"
    }
    inbound {
      port  = "9100"
      proto = "tcp"
      cidr  = "10.42.100.0/24"
    }
    outbound {
      host = "any"
    }
  }
}
