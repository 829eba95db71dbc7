# One host port leads to one container: same protocol, address and port.
machine "web" {
  forward_port {
    host_port      = 8080
    container_port = 80
  }
  forward_port {
    protocol  = "udp"
    host_port = "5000-5010"
  }
  forward_port {
    host_address = "203.0.113.5"
    host_port    = 443
  }
}
machine "api" {
  forward_port {
    host_port = 8080 # ERROR: TCP port 8080 on any local address is already forwarded to machine web
  }
  forward_port {
    protocol  = "udp"
    host_port = "5010-5020" # ERROR: Host port already forwarded
  }
  forward_port {
    protocol  = "tcp"
    host_port = "5000-5010"
  }
  forward_port {
    host_address = "203.0.113.6"
    host_port    = 443
  }
  forward_port {
    host_address = "203.0.113.5"
    host_port    = 443 # ERROR: on 203.0.113.5 is already forwarded
  }
}
