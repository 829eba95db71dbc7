# A collision is reported once, on the block that has it, when an earlier
# block of the machine resolves to one family only because the container
# has IPv4 alone (a zone without ULA), not because of allow_from.
zone "v4" {
  ula = false
}
machine "web" {
  forward_port {
    host_port = 8080
  }
}
machine "api" {
  network {
    mode = "zone"
    zone = "v4"
  }
  forward_port {
    host_port = 9000
  }
  forward_port {
    host_port = 8080 # ERROR: TCP port 8080 on any local address is already forwarded to machine web
  }
}
