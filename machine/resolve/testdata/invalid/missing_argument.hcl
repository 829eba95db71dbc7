machine "web" {
  forward_port { # ERROR: Missing required argument
    container_port = 80
  }
}
