machine "web" {
  forward_port {
    host_port  = 80
    allow_from = ["192.0.2.0/24", "192.0.2.1/24", "lan", "10.0.0.1"] # ERROR: host bits set # ERROR: is not an address in CIDR form # ERROR: has no prefix length
  }
}
