machine "web" {
  network {
    host {
      address = ["10.0.0.1"] # ERROR: has no prefix length
    }
  }
}
machine "db" {
  network {
    host {
      address = ["10.0.1.300/24", "fd00::1/129", "fe80::1%eth0/64"] # ERROR: is not an address in CIDR form # ERROR: has a zone index
    }
  }
}
