bridge "br0" {
  uplink     = "eth 0"   # ERROR: Invalid uplink
  dhcp       = "maybe"   # ERROR: Invalid DHCP mode
  masquerade = "yes"     # ERROR: Invalid masquerade setting
  address    = ["10.9.0.1"] # ERROR: no prefix length
}
