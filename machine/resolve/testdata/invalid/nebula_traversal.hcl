machine "member" {
  nebula {
    network         = "mesh"
    ca              = "/etc/nebula/ca.crt"
    ca_key          = "/etc/nebula/ca.key"
    address         = "10.42.0.5/24"
    advertise_addrs = ["203.0.113.7", "0.0.0.0:4243", "host.example:4243"] # ERROR: Advertised address without a port # ERROR: Invalid advertised address
    relays          = ["10.42.0.0/24"] # ERROR: Invalid relay
  }
}
