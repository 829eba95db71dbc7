machine "web" {
  nebula { # ERROR: Incomplete certificate
    network = "mesh"
    ca      = "/etc/nebula/ca.crt"
    cert    = "/etc/nebula/web.crt"
  }
}
