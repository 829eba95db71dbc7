# python-style.nix in nspawnctl's own names.
machine "web" {
  root {
    directory = "/var/lib/machines/web"
  }

  bind               = ["/srv/web:/var/www"]
  timeout_start      = "2min"
  private_users      = "pick"
  system_call_filter = ["@system-service"]
  activation         = "auto"
  autostart          = true

  network {
    host {
      ula = false
      ipv6_prefix {
        prefix = "fd42:17:3:1::/64"
        assign = true
      }
      extra = {
        Network = {
          IPv6SendRA = "yes"
        }
      }
    }
    container {
      address = ["fd42:17:3:1::2/64"]
      mdns    = true
    }
  }

  forward_port {
    protocol  = "tcp"
    host_port = 8443
  }
}
