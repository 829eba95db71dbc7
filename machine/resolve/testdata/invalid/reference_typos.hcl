# A misspelled zone or bridge name gets a suggestion, as attribute typos do.
zone "backend" {}
bridge "br-lan" {}
machine "db" {
  network {
    mode = "zone"
    zone = "backnd" # ERROR: Did you mean "backend"?
  }
}
machine "web" {
  network {
    mode   = "bridge"
    bridge = "br-lna" # WARNING: Did you mean "br-lan"?
  }
}
