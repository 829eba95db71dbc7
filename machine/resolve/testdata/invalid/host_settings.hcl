machine "web" {
  network {
    host {
      masquerade = "yes" # ERROR: Invalid masquerade setting
      proxy_ndp  = ["eth0", "eth/0"] # ERROR: is not an interface name # ERROR: Proxy NDP needs a static global address
      prefix_delegation {
        uplink    = "up link" # ERROR: Invalid uplink
        subnet_id = "0xzz" # ERROR: Invalid subnet ID
      }
    }
  }
}
