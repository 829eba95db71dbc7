bridge "br0" {}

machine "lan" {
  network {
    bridge = "br0"
    direct_routing = true # ERROR: direct_routing applies to machines on the host's private networks
  }
}
machine "host" {
  network {
    mode = "host"
    isolated = true # ERROR: Setting needs a private network
  }
}
zone "back" {}
machine "member" {
  network {
    zone = "back"
    isolated = true # ERROR: set isolated in the zone "back" block
  }
}
