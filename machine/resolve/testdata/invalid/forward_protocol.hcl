machine "web" {
  forward_port {
    protocol  = "sctp" # ERROR: Invalid protocol
    host_port = 80
  }
  forward_port {
    protocol  = "TCP" # ERROR: is not one of "tcp", "udp"
    host_port = 81
  }
}
