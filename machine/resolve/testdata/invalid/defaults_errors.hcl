defaults {
  state_dir      = "var/lib/nspawnctl"   # ERROR: the path is relative
  machines_dir   = "/srv/../machines"    # ERROR: contains '..'
  ipv4_pool      = "10.0.0.0/29"         # ERROR: Invalid pool
  zone_ipv4_pool = "fd00::/48"           # ERROR: Invalid pool
  ula_prefix     = "2001:db8::/48"       # ERROR: unique local prefix inside fc00::/7
  nebula_pool    = "fd00:42::/64"        # ERROR: IPv4-only
}
