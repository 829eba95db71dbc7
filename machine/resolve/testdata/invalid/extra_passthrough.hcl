# Raw pass-through: { Section = { Key = value or [values] } }.
machine "web" {
  network {
    host {
      extra = { network = { Foo = "x" } } # ERROR: is not a systemd section name
    }
    container {
      extra = { Network = { "DNS]" = "x" } } # ERROR: is not a systemd key name
    }
  }
}
zone "lab" {
  extra = { Network = { Domains = "lab\n[Service]" } } # ERROR: line break
}
bridge "br0" {
  extra        = "Network" # ERROR: must be an object of sections
  netdev_extra = { Bridge = { STP = { a = 1 } } } # ERROR: values must be strings, numbers, booleans
}
bridge "br1" {
  extra        = { "Net work" = { A = "b" } } # ERROR: Invalid raw networkd settings
  netdev_extra = { Bridge = "x" } # ERROR: section Bridge must be an object of keys
}
