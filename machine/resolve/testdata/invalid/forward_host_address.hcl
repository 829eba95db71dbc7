machine "web" {
  forward_port {
    host_address = "0.0.0.0" # ERROR: is not a unicast address
    host_port    = 80
  }
  forward_port {
    host_address = "224.0.0.1" # ERROR: is not a unicast address
    host_port    = 81
  }
  forward_port {
    host_address = "::1" # ERROR: IPv6 loopback cannot be forwarded
    host_port    = 82
  }
  forward_port {
    host_address = "10.0.0.1/24" # ERROR: Invalid host address
    host_port    = 83
  }
  forward_port {
    host_address = "fe80::1%eth0" # ERROR: no zone
    host_port    = 84
  }
}
