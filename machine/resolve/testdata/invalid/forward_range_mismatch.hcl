machine "web" {
  forward_port {
    host_port      = "8000-8010"
    container_port = "80-85" # ERROR: Port range length mismatch
  }
  forward_port {
    host_port      = "9000"
    container_port = "90-91" # ERROR: has 1 ports but container_port 90-91 has 2
  }
}
