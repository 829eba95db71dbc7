machine "web" {
  network {
    mode = "vethh" # ERROR: Invalid network mode
  }
}
machine "db" {
  network {
    mode = "Veth" # ERROR: is not one of "veth", "zone"
  }
}
