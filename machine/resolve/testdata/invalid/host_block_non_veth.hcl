zone "lab" {}
machine "web" {
  network {
    zone = "lab"
    host { # ERROR: host block needs a veth link
      address = ["10.3.0.1/28"]
    }
  }
}
machine "db" {
  network {
    mode = "host"
    host { # ERROR: host block needs a veth link
    }
  }
}
