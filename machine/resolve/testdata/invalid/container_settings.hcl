machine "web" {
  network {
    container {
      gateway = ["10.0.0.1/24", "10.0.0.1"] # ERROR: Invalid gateway
      dns     = ["8.8.8", "1.1.1.1"] # ERROR: Invalid DNS server
      dhcp    = "true" # ERROR: Invalid DHCP mode
      address = ["10.40.0.2"] # ERROR: has no prefix length
    }
  }
}
