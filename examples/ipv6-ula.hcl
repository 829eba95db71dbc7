# Private IPv6 with NAT: the networking guide's "ULA" case. The container gets
# an address from a unique local /64 chosen by hand, and its IPv6 traffic to
# the internet leaves the host masqueraded behind the host's own address, as
# its IPv4 traffic does.
#
# Without any of this nspawnctl already gives every veth machine a ULA /64
# from the host's /48 (derived from /etc/machine-id) and masquerades it; this
# example shows how to pick the prefix yourself, e.g. to keep it stable when
# the machine moves to another host.
machine "db" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["postgresql"]
    }
  }

  network {
    host {
      # Do not allocate a ULA /64 from the host's /48: this one replaces it.
      ula = false

      ipv6_prefix {
        prefix = "fd42:17:3:1::/64"
        assign = true
      }

      # IPMasquerade=both: IPv4 and IPv6 leave through the host's addresses.
      # ULA source addresses are not routed on the internet, so IPv6 needs
      # masquerading just like the private IPv4 /28.
      masquerade = "both"
    }

    container {
      address = ["fd42:17:3:1::2/64"]
    }
  }

  # Clients on the host's LAN reach PostgreSQL on the host's port 5432, over
  # IPv4 and IPv6, but only from the LAN's prefixes.
  forward_port {
    host_port  = 5432
    allow_from = ["192.168.10.0/24", "fd42:17:ffff::/48"]
  }
}
