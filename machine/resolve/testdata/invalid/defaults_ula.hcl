defaults {
  ula_prefix = "fd12:3456:789a::/56" # ERROR: of /48 or shorter
  ipv4_pool  = "10.0.0.1/16"         # ERROR: host bits set
  state_dir  = "/var/lib//nspawnctl" # ERROR: canonical form
}
