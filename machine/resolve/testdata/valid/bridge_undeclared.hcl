# An undeclared bridge may exist on the host: only a warning.
machine "web" {
  network {
    bridge = "br-lan" # WARNING: Bridge not declared here
    container {
      address = ["192.0.2.10/24"]
      gateway = ["192.0.2.1"]
    }
  }
  forward_port {
    host_port = 8080
  }
}
