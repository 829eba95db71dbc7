machine "web" {
  forward_port {
    host_port = 0 # ERROR: port 0 is outside 1..65535
  }
  forward_port {
    host_port = 65536 # ERROR: outside 1..65535
  }
  forward_port {
    host_port      = 80
    container_port = "http" # ERROR: is not a port number
  }
  forward_port {
    host_port = "9010-9000" # ERROR: runs backwards
  }
  forward_port {
    host_port = "-1" # ERROR: Invalid host port
  }
  forward_port {
    host_port = 65535
  }
}
