# A machine cannot forward one host port twice either.
machine "web" {
  forward_port {
    host_port = "22"
  }
  forward_port {
    host_port      = "20-30" # ERROR: Host port already forwarded
    container_port = "120-130"
  }
}
