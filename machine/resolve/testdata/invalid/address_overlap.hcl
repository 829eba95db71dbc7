# Distinct links need distinct subnets.
machine "web" {
  network {
    host {
      address = ["10.5.0.1/24", "fd42::1/64"]
    }
  }
}
machine "db" {
  network {
    host {
      address = ["10.5.0.129/25"] # ERROR: Overlapping addresses
    }
  }
}
zone "lab" {
  address = ["fd42::1:1/80"] # ERROR: overlaps fd42::/64 of machine web
}
bridge "br0" {
  address = ["10.5.0.1/16"] # ERROR: Overlapping addresses
}
