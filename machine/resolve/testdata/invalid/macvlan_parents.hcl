machine "web" {
  network {
    mode = "macvlan" # ERROR: Missing parent interface
  }
}
machine "db" {
  network {
    ipvlan = ["eth0:1", "eth0", "an-interface-name-too-long"] # ERROR: "eth0:1" is not a valid interface name # ERROR: is not a valid interface name
  }
}
