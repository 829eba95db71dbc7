# A member of an undeclared bridge has no static address to forward to.
machine "web" {
  network {
    bridge = "br-lan" # WARNING: Bridge not declared here
  }
  forward_port { # ERROR: Forward has no target
    host_port = 80
  }
}
machine "db" {
  forward_port { # ERROR: has no static IPv6 address
    host_address = "2001:db8::1"
    host_port    = 5432
  }
  network {
    host {
      ula = false
    }
  }
}
