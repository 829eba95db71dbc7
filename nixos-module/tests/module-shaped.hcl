# module-shaped.nix: what is left of a fully populated option set.
machine "web" {
  root {
    bootstrap {
      suite = "bookworm"
    }
  }
  network {
    host {
      masquerade = "ipv4"
    }
  }
  forward_port {
    host_port      = 8181
    container_port = 80
  }
}
