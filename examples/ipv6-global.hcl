# Global IPv6 for a container: the networking guide's "Global subnet
# delegation". The host's provider routes 2001:db8:1::/48 to this host; one /64
# of it is announced on ve-web, the host side takes an address from it
# (assign = true) and the container gets a fixed address, so that it is
# reachable from the internet and its port forwards have a stable target.
#
# Before using this, check that the provider really routes the prefix to the
# host. If it expects the addresses to answer neighbour discovery on the
# uplink instead (common at Hetzner), list the uplink in proxy_ndp.
machine "web" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["nginx-light"]
    }
  }

  network {
    host {
      # [IPv6Prefix] Prefix=2001:db8:1:2::/64 Assign=yes on ve-web: announced
      # by router advertisements (SLAAC and the default route for the
      # container) and assigned to the host side as its gateway address.
      ipv6_prefix {
        prefix = "2001:db8:1:2::/64"
        assign = true
      }

      # Global addresses must leave the host unchanged: masquerade IPv4 only
      # (the default, "both", would hide the container behind the host's
      # IPv6 address too).
      masquerade = "ipv4"

      # The provider expects neighbour discovery for the container's address
      # on eth0 (IPv6ProxyNDP= on the uplink).
      proxy_ndp = ["eth0"]
    }

    container {
      # A static address in the announced /64. The IPv4 address still comes
      # from the pool (10.117.0.0/16, a /28 per machine); the IPv6 default
      # route comes from the host's router advertisements.
      address = ["2001:db8:1:2::2/64"]
    }
  }

  # Forwarded on the host's IPv4 addresses to the container's pool address,
  # and on its IPv6 addresses to 2001:db8:1:2::2.
  forward_port {
    host_port      = 8181
    container_port = 80
  }
}
