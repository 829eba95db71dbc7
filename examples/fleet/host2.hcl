# examples/fleet/host2.hcl: one overlay ("fleet") across three hosts; see README.md.
# Host 2 (public address 198.51.100.130) runs two members: both are reached at the
# host's address, each on its own forwarded port.

machine "app-2" {
  root {
    tarball = "/srv/images/web.tar"
  }
  autostart = true

  nebula {
    network = "fleet"
    ca      = "/etc/nspawnctl/nebula-ca/ca.crt"
    ca_key  = "/etc/nspawnctl/nebula-ca/ca.key"
    address = "198.51.100.12/25"
    groups  = ["client"]

    lighthouses     = ["198.51.100.1"]
    static_host_map = { "198.51.100.1" = ["203.0.113.2:4242"] }
    relays          = ["198.51.100.1"]

    # A fixed port, forwarded from the host by nspawnctl, advertised at the
    # host's address: peers on every host reach this member there.
    listen_port     = 4243
    advertise_addrs = ["198.51.100.130"]

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

machine "web-2" {
  root {
    tarball = "/srv/images/web.tar"
  }
  autostart = true

  nebula {
    network = "fleet"
    ca      = "/etc/nspawnctl/nebula-ca/ca.crt"
    ca_key  = "/etc/nspawnctl/nebula-ca/ca.key"
    address = "198.51.100.22/25"
    groups  = ["web"]

    lighthouses     = ["198.51.100.1"]
    static_host_map = { "198.51.100.1" = ["203.0.113.2:4242"] }
    relays          = ["198.51.100.1"]

    # A fixed port, forwarded from the host by nspawnctl, advertised at the
    # host's address: peers on every host reach this member there.
    listen_port     = 4244
    advertise_addrs = ["198.51.100.130"]

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
