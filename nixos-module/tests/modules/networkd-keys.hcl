# The HCL twin of networkd-keys.nix.
machine "edge" {
  root {
    directory = "/var/lib/machines/edge"
  }
  network {
    host {
      address   = ["10.40.0.1/28", "fd00:40::1/64"]
      proxy_ndp = ["eth0"]
      ipv6_prefix {
        prefix = "fd00:40::/64"
        assign = true
      }
      extra = {
        Network    = { IPv6SendRA = true }
        Link       = { MTUBytes = "1400" }
        DHCPServer = { PoolOffset = 4 }
      }
    }
    container {
      address = ["10.40.0.2/28", "2001:db8:40::2/128"]
      gateway = ["10.40.0.1"]
      dns     = ["10.40.0.1"]
      mdns    = true
      extra = {
        Network = { IPv6AcceptRA = true, Domains = "example.test" }
      }
    }
  }
}

zone "lab" {
  address = ["10.41.0.1/24"]
  mdns    = true
  extra = {
    Network = { IPv6SendRA = true }
  }
}
