machine "web" {
  nebula {
    network = "mesh"
    ca      = "/etc/nebula/ca.crt"
    cert    = "/etc/nebula/web.crt"
    key     = "/etc/nebula/web.key"
    ca_key  = "/etc/nebula/ca.key" # ERROR: Conflicting certificate sources
    address = "10.42.0.5/24" # ERROR: Address comes from the certificate
  }
}
machine "db" {
  nebula { # ERROR: Missing certificate
    network = "mesh"
    ca      = "/etc/nebula/ca.crt"
  }
}
