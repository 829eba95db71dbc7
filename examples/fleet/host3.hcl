# examples/fleet/host3.hcl: one overlay ("fleet") across three hosts; see README.md.
# Host 3 (public address 198.51.100.146) runs one member behind a host firewall that
# drops unsolicited input: the member's forward is what lets peers in.

machine "web-3" {
  root {
    tarball = "/srv/images/web.tar"
  }
  autostart = true

  nebula {
    network = "fleet"
    ca      = "/etc/nspawnctl/nebula-ca/ca.crt"
    ca_key  = "/etc/nspawnctl/nebula-ca/ca.key"
    address = "198.51.100.23/25"
    groups  = ["web"]

    lighthouses     = ["198.51.100.1"]
    static_host_map = { "198.51.100.1" = ["203.0.113.2:4242"] }
    relays          = ["198.51.100.1"]

    # A fixed port, forwarded from the host by nspawnctl, advertised at the
    # host's address: peers on every host reach this member there.
    listen_port     = 4243
    advertise_addrs = ["198.51.100.146"]

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
