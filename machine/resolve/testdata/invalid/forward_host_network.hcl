machine "web" {
  network {
    mode = "host"
  }
  forward_port { # ERROR: Forward needs a routed private network
    host_port = 80
  }
}
