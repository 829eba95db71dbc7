# A collision is reported once, on the block that has it, even when an
# earlier block of the machine resolves to one family only (allow_from).
machine "web" {
  forward_port {
    host_port = 8080
  }
}
machine "api" {
  forward_port {
    host_port  = 9000
    allow_from = ["198.51.100.0/24"]
  }
  forward_port {
    host_port = 8080 # ERROR: TCP port 8080 on any local address is already forwarded to machine web
  }
}
