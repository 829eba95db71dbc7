# The networking guide's default config: a web server in a Debian container,
# reachable on the host's port 8181 over IPv4 and IPv6 (from other hosts, from
# the host itself and from its localhost).
machine "web" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["nginx-light"]
    }
  }

  forward_port {
    host_port      = 8181
    container_port = 80
  }
}
