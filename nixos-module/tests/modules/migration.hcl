# The HCL twin of migration.nix. nixpkgs' point-to-point addresses
# (hostAddress 10.231.136.1, localAddress 10.231.136.2, no prefix length)
# become the smallest subnet holding both, a /30.
machine "webserver" {
  root {
    nixos_system = "/nix/store/00000000000000000000000000000000-nixos-system-webserver-25.11"
  }
  autostart     = true
  timeout_start = "2min"
  capabilities  = ["CAP_NET_ADMIN"]
  bind_ro       = ["/nix/var/nix/daemon-socket", "/srv/www:/var/www"]
  tmpfs         = ["/var/cache/nginx"]
  network {
    host {
      address = ["10.231.136.1/30"]
    }
    container {
      address = ["10.231.136.2/30"]
    }
  }
  forward_port {
    protocol       = "tcp"
    host_port      = 8080
    container_port = 80
  }
}
