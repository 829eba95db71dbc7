machine "web" {
  root {
    nixos_system = "/opt/nixos-system" # ERROR: must be a path in /nix/store
  }
}
machine "db" {
  boot = true # ERROR: boot conflicts with nixos_system
  root {
    nixos_system = "/nix/store/abc-nixos-system-db"
  }
}
