zone "lab" {}
machine "web" {
  network { # ERROR: Conflicting network settings
    zone   = "lab"
    bridge = "br0"
  }
}
machine "db" {
  network {
    mode = "veth" # ERROR: Conflicting network mode
    zone = "lab"
  }
}
machine "cache" {
  network { # ERROR: sets macvlan and ipvlan
    macvlan = ["eth0"]
    ipvlan  = ["eth1"]
  }
}
