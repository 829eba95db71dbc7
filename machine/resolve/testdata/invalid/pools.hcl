machine "web" {
  network {
    host {
      pool = "10.50.0.0/29" # ERROR: of /28 or shorter
    }
  }
}
machine "db" {
  network {
    host {
      pool = "fd00::/64" # ERROR: must be an IPv4 prefix
    }
  }
}
zone "lab" {
  pool = "10.60.0.1/16" # ERROR: host bits set
}
zone "dmz" {
  pool = "10.61.0.0/25" # ERROR: of /24 or shorter
}
