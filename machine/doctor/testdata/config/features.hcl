# Uses every feature with its own version requirement.
zone "lan" {
  mdns = true
}

machine "web" {
  root {
    directory = "/var/lib/machines/web"
  }
  network {
    host {
      ipv6_prefix {
        prefix = "2001:db8:1:2::/64"
        assign = true
      }
      prefix_delegation {
        uplink = "eth0"
      }
      proxy_ndp = ["eth0"]
    }
    container {
      address = ["2001:db8:1:2::2/64"]
    }
  }
  forward_port {
    host_port      = 8181
    container_port = 80
  }
  forward_port {
    host_port  = 2222
    container_port = 22
    allow_from = ["198.51.100.0/24"]
  }
}

machine "db" {
  root {
    directory = "/var/lib/machines/db"
  }
  network {
    zone = "lan"
  }
}
