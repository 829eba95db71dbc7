machine "web" {
  network {
    host {
      address = [
        "0.0.0.0/24",   # ERROR: Unspecified address
        "10.0.0.1/31",  # ERROR: Prefix too long
        "10.0.1.1/32",  # ERROR: Prefix too long
        "fd00::1/127",  # ERROR: Prefix too long
        "10.0.2.1/30",
      ]
    }
  }
}
