machine "web" {
  network {
    host {
      ipv6_prefix {
        prefix = "10.0.0.0/24" # ERROR: is not an IPv6 prefix
      }
      ipv6_prefix {
        prefix = "2001:db8:1::1/64" # ERROR: host bits set
      }
      ipv6_prefix {
        prefix = "2001:db8:2::/56" # ERROR: assign = true needs a /64
        assign = true
      }
      ipv6_prefix {
        prefix = "2001:db8:3::/80" # ERROR: Prefix too long for router advertisements
      }
      ipv6_prefix {
        prefix = "2001:db8:4::" # ERROR: has no prefix length
      }
      ipv6_prefix {
        prefix = "2001:db8:5::/64"
        assign = true
      }
    }
  }
}
