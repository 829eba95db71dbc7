# A /28 pool holds exactly one machine's /28.
defaults {
  ipv4_pool = "10.77.0.0/28"
}
machine "a" {}
machine "b" { # ERROR: Address pool exhausted
}
