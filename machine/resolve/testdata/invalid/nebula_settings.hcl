machine "web" {
  network {
    mode = "host"
  }
  nebula { # ERROR: Nebula needs a private network
    network     = "mesh"
    ca          = "etc/nebula/ca.crt" # ERROR: the path is relative
    ca_key      = "/etc/nebula/ca.key" # ERROR: No overlay address to sign
    listen_port = 70000 # ERROR: Invalid listen port
    mtu         = 100 # ERROR: Invalid MTU
    device      = "neb/1" # ERROR: Invalid device name
  }
}
