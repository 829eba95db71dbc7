machine "web" {
  network {
    macvlan = ["eth0"]
  }
  forward_port { # ERROR: uses network mode "macvlan"
    host_port = 80
  }
}
machine "db" {
  network {
    mode = "none"
  }
  forward_port { # ERROR: Forward needs a routed private network
    host_port = 5432
  }
}
