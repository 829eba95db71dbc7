machine "web" {
  nebula {
    network = "mesh"
    ca      = "/etc/nebula/ca.crt"
    ca_key  = "/etc/nebula/ca.key"
    address = "fd42::5/64" # ERROR: Invalid overlay address
    pool    = "fd42::/64" # ERROR: IPv4-only
  }
}
