# The HCL twin of readme.nix (the example of README.md and
# nixos-module/README.md). The wiki's root is the system that the test's
# eval-config.nix stand-in evaluates (its store path is made of a fixed hash:
# the test builds nothing).
machine "wiki" {
  root {
    nixos_system = "/nix/store/00000000000000000000000000000000-nixos-system-wiki-25.11"
  }
  autostart = true
  bind      = ["/srv/wiki:/var/lib/wiki"]
  limits {
    memory_max = "1G"
  }
  forward_port {
    host_port      = 8080
    container_port = 80
  }
}

machine "db" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["postgresql"]
    }
  }
  network {
    zone = "backend"
  }
}

zone "backend" {}
