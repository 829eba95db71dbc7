machine "web" {
  nebula {
    network     = "mesh"
    ca          = "/etc/nebula/ca.crt"
    ca_key      = "/etc/nebula/ca.key"
    address     = "10.42.0.5/24"
    lighthouses = ["10.42.0.1", "10.42.0.2", "lighthouse"] # ERROR: Lighthouse without endpoint # ERROR: Invalid lighthouse
    static_host_map = {
      "10.42.0.2" = ["lh2.example.org:4242"]
      "lh3"       = ["lh3.example.org:4242"] # ERROR: Invalid static_host_map key
      "10.42.0.4" = ["lh4.example.org"]      # ERROR: is not HOST:PORT
    }
  }
}
