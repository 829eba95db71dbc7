# Global IPv6 from the uplink's DHCPv6 prefix delegation: the host's eth0
# receives a delegated prefix from the ISP's router (typically a /56 or /48,
# and it may change), and networkd gives ve-mail one /64 of it, assigns the
# host side an address in it and announces it to the container by router
# advertisements. The container configures its global address by SLAAC.
#
# eth0 itself must ask for the delegation: its own .network file needs
# DHCP=ipv6 (or yes) and, in [DHCPv6], PrefixDelegationHint=::/56 (the size to
# ask for; WithoutRA=solicit too if the router sends no router advertisements).
# That file is the host's, not nspawnctl's. "nspawnctl doctor" says whether
# the host got a delegation large enough for subnet_id 0x2, "nspawnctl status
# mail" shows the /64 and the container's global address.
#
# When the ISP renumbers, nspawnctl-pd-deprecate@ve-mail.service (wanted by
# the machine) announces the old /64 with preferred lifetime 0, so that the
# container stops using its old address at once (RFC 9096 3.3).
machine "mail" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["postfix", "dovecot-imapd"]
    }
  }

  network {
    host {
      prefix_delegation {
        uplink = "eth0"
        # The /64 with subnet id 0x2 of the delegated prefix, so that the
        # container's prefix stays put when other links take subnets.
        subnet_id = "0x2"
      }

      # The delegated prefix is global: do not hide it behind the host.
      masquerade = "ipv4"

      # Raw networkd settings for what nspawnctl has no attribute for: tell
      # the container about the host's resolver in router advertisements.
      extra = {
        IPv6SendRA = {
          EmitDNS = true
          DNS     = ["_link_local"]
        }
      }
    }
  }

  # The delegated address is not static, so the IPv6 forward targets the
  # container's ULA address (allocated by nspawnctl); IPv4 as usual.
  forward_port {
    host_port = 25
  }
}
