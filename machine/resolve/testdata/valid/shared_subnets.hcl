# A veth link's two ends, and a zone's or bridge's members, share one subnet.
machine "web" {
  network {
    host {
      address = ["10.5.0.1/24", "fd42::1/64"]
    }
    container {
      address = ["10.5.0.2/24", "fd42::2/64"]
    }
  }
}
zone "lab" {
  address = ["10.30.0.1/24"]
  ula     = false
}
machine "db" {
  network {
    zone = "lab"
    container {
      address = ["10.30.0.10/24"]
    }
  }
}
machine "cache" {
  network {
    zone = "lab"
  }
}
bridge "br0" {
  address = ["10.31.0.1/24"]
}
machine "mail" {
  network {
    bridge = "br0"
    container {
      address = ["10.31.0.25/24"]
    }
  }
}
