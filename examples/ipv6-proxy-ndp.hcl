# Proxy NDP: for providers that put the host's /64 on-link on its uplink
# instead of routing it to the host (common with VPS and some dedicated
# hosts). The provider's router then asks by neighbour discovery for every
# address it delivers, so the host must answer for the container's address
# on eth0 and route it on to ve-web.
#
# nspawnctl looks up, when it creates the machine, which .network file
# systemd-networkd applies to eth0 (networkctl status eth0 shows it as
# "Network File", say 10-eth0.network) and adds a drop-in to it,
# 10-eth0.network.d/nspawnctl-web.conf, with IPv6ProxyNDP=yes and
# IPv6ProxyNDPAddress=2001:db8:5:6::100. The file itself stays the user's.
# On the container link it adds a host route to the address, which lies
# outside the link's own prefixes. eth0 must be configured by networkd.
machine "web" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["nginx-light"]
    }
  }

  network {
    host {
      proxy_ndp = ["eth0"]

      # The address is global: masquerade IPv4 only. nspawnctl adds
      # IPForward=yes, since networkd would otherwise forward IPv4 only.
      masquerade = "ipv4"
    }

    container {
      # One address of eth0's /64 (2001:db8:5:6::/64). A /128: the
      # container's default route comes from the host's router
      # advertisements, via the host's link-local address.
      address = ["2001:db8:5:6::100/128"]
    }
  }

  forward_port {
    host_port      = 8080
    container_port = 80
  }
}
