# examples/fleet/host1.hcl: one overlay ("fleet") across three hosts; see README.md.
# Host 1 (public address 203.0.113.2) runs the lighthouse, which is also a relay, and
# one member beside it.

machine "lighthouse" {
  root {
    tarball = "/srv/images/web.tar"
  }
  autostart = true

  nebula {
    network = "fleet"
    ca      = "/etc/nspawnctl/nebula-ca/ca.crt"
    ca_key  = "/etc/nspawnctl/nebula-ca/ca.key"
    address = "198.51.100.1/25"
    groups  = ["infra"]

    # Reached by every host at this host's address; nspawnctl forwards the
    # listen port (4242 for a lighthouse) from the host to the container.
    am_lighthouse   = true
    am_relay        = true
    listen_port     = 4242
    advertise_addrs = ["203.0.113.2"]

    inbound {
      proto = "icmp"
      host  = "any"
    }
    inbound {
      port  = "80"
      proto = "tcp"
      group = "client"
    }
  }
}

machine "app-1" {
  root {
    tarball = "/srv/images/web.tar"
  }
  autostart = true

  nebula {
    network = "fleet"
    ca      = "/etc/nspawnctl/nebula-ca/ca.crt"
    ca_key  = "/etc/nspawnctl/nebula-ca/ca.key"
    address = "198.51.100.11/25"
    groups  = ["client"]

    lighthouses     = ["198.51.100.1"]
    static_host_map = { "198.51.100.1" = ["203.0.113.2:4242"] }
    relays          = ["198.51.100.1"]

    # A fixed port, forwarded from the host by nspawnctl, advertised at the
    # host's address: peers on every host reach this member there.
    listen_port     = 4243
    advertise_addrs = ["203.0.113.2"]

    inbound {
      proto = "icmp"
      host  = "any"
    }
    inbound {
      port  = "80"
      proto = "tcp"
      group = "client"
    }
  }
}
