# Members of a zone share its subnet, but no two may have the same address.
zone "lab" {
  address = ["10.30.0.1/24"]
}
machine "web" {
  network {
    zone = "lab"
    container {
      address = ["10.30.0.10/24"]
    }
  }
}
machine "db" {
  network {
    zone = "lab"
    container {
      address = ["10.30.0.10/24"] # ERROR: Duplicate address
    }
  }
}
machine "cache" {
  network {
    zone = "lab"
    container {
      address = ["10.30.0.1/24"] # ERROR: Duplicate address
    }
  }
}
