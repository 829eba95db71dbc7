machine "web" {
  nebula {
    network     = "mesh"
    ca          = "/etc/nebula/ca.crt"
    ca_key      = "/etc/nebula/ca.key"
    pool        = "10.42.0.0/24"
    listen_port = 443 # ERROR: Privileged listen port
    inbound {
      port   = "80"
      group  = "web"
      groups = ["web", "prod"] # ERROR: Both group and groups
    }
  }
}
