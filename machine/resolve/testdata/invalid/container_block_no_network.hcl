machine "web" {
  network {
    mode = "host"
    container { # ERROR: container block needs a private network
      address = ["10.3.0.2/28"]
    }
  }
}
machine "db" {
  network {
    mode = "none"
    container { # ERROR: Mode "none" gives the container no interface
    }
  }
}
