# Forwards that share a port but can never match the same packet.
machine "web" {
  forward_port {
    host_port = 53
  }
  forward_port {
    protocol  = "udp"
    host_port = 53
  }
  forward_port {
    host_address = "203.0.113.5"
    host_port    = 443
  }
  forward_port {
    host_port  = 22
    allow_from = ["192.0.2.0/24"]
  }
  forward_port {
    host_port      = "1-10"
    container_port = "65526-65535"
  }
}
machine "api" {
  forward_port {
    host_address = "203.0.113.6"
    host_port    = 443
  }
  forward_port {
    host_port  = 22
    allow_from = ["198.51.100.0/24"]
  }
}
