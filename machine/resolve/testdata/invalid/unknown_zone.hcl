zone "lab" {}
machine "web" {
  network {
    zone = "labb" # ERROR: Unknown zone
  }
}
